/**
 * The account-access policy as a table: every role × need × principal kind (a person's session on the web, mobile
 * and desktop channels; a program with and without the `trade` scope), plus another user's account. The expected
 * column is written out by hand, not derived from the policy's own data, so a change to the policy shows here.
 * Issue 14, finding 2: before one policy existed, the same question had five hand-written answers (a viewer could
 * modify, cancel and grant `trade` — findings 1 and 7).
 */
import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../core/index.js';
import { LEGAL_ENTITIES, type UserAccount } from '../identity/index.js';
import type { Principal, SessionRecord } from '../sessions/index.js';
import { ACCOUNT_NEEDS, accountAccess, principalKind } from './index.js';

const EXPECTED = `
kind            role     view  trade             own
web             owner    ok    ok                ok
web             trader   ok    ok                ROLE_NOT_ALLOWED
web             viewer   ok    ROLE_NOT_ALLOWED  ROLE_NOT_ALLOWED
mobile          owner    ok    ok                ok
mobile          trader   ok    ok                ROLE_NOT_ALLOWED
mobile          viewer   ok    ROLE_NOT_ALLOWED  ROLE_NOT_ALLOWED
desktop         owner    ok    ok                ok
desktop         trader   ok    ok                ROLE_NOT_ALLOWED
desktop         viewer   ok    ROLE_NOT_ALLOWED  ROLE_NOT_ALLOWED
program+trade   owner    ok    ok                API_NOT_ALLOWED
program+trade   trader   ok    ok                API_NOT_ALLOWED
program+trade   viewer   ok    ROLE_NOT_ALLOWED  API_NOT_ALLOWED
program-read    owner    ok    SCOPE_REQUIRED    API_NOT_ALLOWED
program-read    trader   ok    SCOPE_REQUIRED    API_NOT_ALLOWED
program-read    viewer   ok    SCOPE_REQUIRED    API_NOT_ALLOWED
`;

type Kind = 'web' | 'mobile' | 'desktop' | 'program+trade' | 'program-read';
const ROLES = ['owner', 'trader', 'viewer'] as const;

const rows = EXPECTED.trim()
  .split('\n')
  .slice(1)
  .map((line) => {
    const [kind, role, view, trade, own] = line.trim().split(/\s+/) as [
      Kind,
      (typeof ROLES)[number],
      string,
      string,
      string,
    ];
    return { kind, role, outcomes: { view, trade, own } };
  });

function account(id: string, role: (typeof ROLES)[number]): UserAccount {
  return {
    id,
    title: id,
    paper: false,
    type: 'margin',
    baseCurrency: 'USD',
    clientCategory: 'retail',
    frozen: false,
    closingOnly: false,
    entityCode: 'IBLLC',
    optionsLevel: 0,
    role,
    entity: LEGAL_ENTITIES[0] as UserAccount['entity'],
  };
}

function principal(kind: Kind, role: (typeof ROLES)[number]): Principal {
  const channel = kind.startsWith('program') ? 'api' : kind;
  return {
    session: { id: 'ses_1', userId: 'usr_1', channel } as SessionRecord,
    profile: {
      user: { id: 'usr_1' } as Principal['profile']['user'],
      accounts: [account('U1000001', role)],
      initialPasswordExpiresAt: null,
    },
    memo: new Map(),
    ...(kind.startsWith('program')
      ? {
          api: {
            clientId: 'cli_1',
            grantId: 'grt_1',
            scopes: kind === 'program+trade' ? ['read', 'trade'] : ['read', 'marketdata'],
            accounts: ['U1000001'],
            jkt: 'x',
          },
        }
      : {}),
  };
}

function outcome(p: Principal, accountId: string, need: (typeof ACCOUNT_NEEDS)[number]): string {
  try {
    const granted = accountAccess(p, accountId, need);
    expect(granted.id).toBe(accountId);
    return 'ok';
  } catch (error) {
    if (!(error instanceof GatehouseError)) throw error;
    return error.code;
  }
}

describe('the account-access policy', () => {
  it('covers every role × principal kind, and nothing else', () => {
    const kinds: Kind[] = ['web', 'mobile', 'desktop', 'program+trade', 'program-read'];
    expect(rows.map((r) => `${r.kind}/${r.role}`).sort()).toEqual(
      kinds.flatMap((k) => ROLES.map((r) => `${k}/${r}`)).sort(),
    );
  });

  it.each(rows)('$kind as $role', ({ kind, role, outcomes }) => {
    const p = principal(kind, role);
    expect(principalKind(p)).toBe(kind.startsWith('program') ? 'program' : kind);
    for (const need of ACCOUNT_NEEDS)
      expect(`${need}: ${outcome(p, 'U1000001', need)}`).toBe(`${need}: ${outcomes[need]}`);
  });

  it.each(rows)('$kind as $role: another user’s account answers as an unknown one', ({ kind, role }) => {
    const p = principal(kind, role);
    for (const need of ACCOUNT_NEEDS) expect(outcome(p, 'U2000002', need)).toBe('ACCOUNT_NOT_FOUND');
    expect(outcome(p, '', 'view')).toBe('ACCOUNT_NOT_FOUND');
  });

  it('names the role and the need in a refusal, and never the other accounts', () => {
    try {
      accountAccess(principal('web', 'viewer'), 'U1000001', 'trade');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: 'ROLE_NOT_ALLOWED', details: { role: 'viewer', need: 'trade' } });
    }
  });
});

/**
 * The callers the fuzzer sends each request as, and the ids they own. Each principal adds its credentials to a
 * request: none (anonymous); a web session's cookie and, on unsafe methods, its CSRF token (most of the time:
 * without it is a case of its own); a program's DPoP-bound access token with a fresh proof for the very request;
 * the operators' admin token. `ensure` logs the people in again when a fuzzed request ended their session (a
 * logout, a revocation, a password change), so every batch of requests is made by live principals.
 */
import { sql } from 'kysely';
import {
  ALICE,
  BRUNO,
  callAs,
  type LoggedIn,
  loginAs,
  loginTrading,
  type TestGateway,
  VIKTOR,
} from '../gateway.js';
import { ADMIN_TOKEN, botToken, registerBot, type TestProgram } from '../program.js';

export const PRINCIPAL_NAMES = [
  'anonymous',
  'web user',
  'competing session',
  'other user',
  'step-up pending',
  'viewer',
  'program',
  'operator',
] as const;
export type PrincipalName = (typeof PRINCIPAL_NAMES)[number];

/** The credentials of one request. */
export interface Credentials {
  headers: Record<string, string>;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class Principals {
  #web = new Map<PrincipalName, LoggedIn>();
  #program: { bot: TestProgram; token: string } | undefined;

  constructor(readonly gw: TestGateway) {}

  /** Logs everyone in again unless each session still answers `GET /v1/session`. */
  async ensure(): Promise<void> {
    const alive = await Promise.all([...this.#web.values()].map((as) => this.#alive(as)));
    const programAlive = this.#program !== undefined && (await this.#programAlive());
    if (this.#web.size > 0 && alive.every(Boolean) && programAlive) return;
    await this.#setUp();
  }

  async #alive(as: LoggedIn): Promise<boolean> {
    const r = await this.gw.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: as.cookie } });
    return r.statusCode === 200;
  }

  async #programAlive(): Promise<boolean> {
    const p = this.#program as { bot: TestProgram; token: string };
    const r = await p.bot.call('GET', '/v1/session', p.token);
    return r.statusCode === 200;
  }

  async #setUp(): Promise<void> {
    const { gw } = this;
    // A day on: whatever backoff fuzzed logins earned has passed, and the old sessions are left behind.
    gw.clock.advance(24 * 3600_000);
    // Alice logs in twice and takes trading twice: her first session is left competing (read-only).
    const competing = await loginTrading(gw, ALICE);
    const web = await loginTrading(gw, ALICE);
    const other = await loginTrading(gw, BRUNO);
    const stepUp = await loginAs(gw, BRUNO);
    await gw.ctx.store.db
      .updateTable('sessions')
      .set({ step_up_required: 1 })
      .where('id', '=', stepUp.sessionId)
      .execute();
    const viewer = await loginAs(gw, VIKTOR);
    this.#web = new Map<PrincipalName, LoggedIn>([
      ['web user', web],
      ['competing session', competing],
      ['other user', other],
      ['step-up pending', stepUp],
      ['viewer', viewer],
    ]);
    const bot = await registerBot(gw, web, { accounts: ['DU1000001'] });
    this.#program = { bot, token: await botToken(bot) };
    // Something of each kind to find by id: an order of each user.
    for (const [as, account] of [
      [web, 'DU1000001'],
      [other, 'U2000002'],
    ] as const) {
      await callAs(gw, 'POST', `/v1/accounts/${account}/orders`, as, {
        clientOrderId: `fuzz-${gw.clock.now()}`,
        instrumentId: 265598,
        side: 'BUY',
        type: 'LMT',
        limitPrice: 1,
        quantity: 1,
        tif: 'GTC',
      });
    }
  }

  /** The headers `name` sends with `method url`; `csrf: false` leaves a web session's CSRF token out. */
  async credentials(name: PrincipalName, method: string, url: string, csrf: boolean): Promise<Credentials> {
    if (name === 'anonymous') return { headers: {} };
    if (name === 'operator') return { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };
    if (name === 'program') {
      const p = this.#program as { bot: TestProgram; token: string };
      const path = url.split('?')[0] as string;
      return {
        headers: {
          authorization: `DPoP ${p.token}`,
          dpop: await p.bot.proof(method, path, { accessToken: p.token }),
        },
      };
    }
    const as = this.#web.get(name) as LoggedIn;
    return {
      headers: { cookie: as.cookie, ...(csrf && UNSAFE.has(method) ? { 'x-csrf-token': as.csrf } : {}) },
    };
  }

  /** The program, for the authorization server's endpoints (its client assertion and proofs). */
  get program(): TestProgram {
    return (this.#program as { bot: TestProgram }).bot;
  }
}

/** Ids a path parameter may take: those in the database now (of every user), by the parameter's name. */
export async function idPools(gw: TestGateway): Promise<Record<string, string[]>> {
  const db = gw.ctx.store.db;
  const column = async (table: string, name = 'id'): Promise<string[]> => {
    const { rows } = await sql<{ v: string }>`select ${sql.ref(name)} as v from ${sql.table(table)}`.execute(
      db,
    );
    return rows.map((r) => String(r.v));
  };
  const pools: Record<string, string[]> = {
    accountId: await column('accounts'),
    username: await column('users', 'username'),
    orderId: await column('orders'),
    clientId: await column('oauth_clients'),
    loginId: await column('login_transactions'),
    challengeId: await column('push_challenges'),
    confirmationId: await column('order_confirmations'),
    instrumentId: ['265598', '8314', '0', '-1'],
    id: [
      ...(await column('sessions')),
      ...(await column('second_factors')),
      ...(await column('devices')),
      ...(await column('travel_notices')),
    ],
    path: ['index.html', 'app.js', 'missing.css', '..%2Fpackage.json'],
    asset: ['swagger-ui.css', 'swagger-ui-bundle.js', 'missing.js', '..%2F..%2Fpackage.json'],
  };
  return pools;
}

/** The Sandbox page's offers: every catalogued kind once, on the person's own target, with requests the gateway takes. */
import { FAULT_CATALOGUE, FAULT_KINDS, faultRequestSchema } from '@gatehouse/protocol';
import { describe, expect, it } from 'vitest';
import {
  clearable,
  describeTarget,
  faultRequest,
  kindLabel,
  offerOf,
  offersByFamily,
} from './sandbox-faults.js';

const OWN = { userId: 'usr_a', sessionId: 'ses_a', accountId: 'DU1000001' };

describe('the Sandbox page’s offers', () => {
  it('offer every kind of the catalogue once, under its own family', () => {
    const groups = offersByFamily();
    const offered = groups.flatMap((g) => g.offers.map((o) => o.kind));
    expect([...offered].sort()).toEqual([...FAULT_KINDS].sort());
    for (const group of groups)
      for (const offer of group.offers) expect(FAULT_CATALOGUE[offer.kind].family).toBe(group.family);
    expect(groups.map((g) => g.title)[0]).toBe('Sessions');
  });

  it('make a request the gateway’s schemas accept, for every kind, with the default choices', () => {
    for (const kind of FAULT_KINDS) {
      const offer = offerOf(kind);
      const values: Record<string, string> = {};
      if (offer.params.some((p) => p.options === 'bundles')) values.bundle = 'US_SECURITIES';
      if (offer.params.some((p) => p.options === 'permissions')) values.permission = 'OPT:US';
      const request = faultRequest(offer, OWN, values, 300_000);
      expect(request, kind).not.toBeNull();
      const parsed = faultRequestSchema.parse(request);
      // The kind's own parameters hold: every required one is picked, and with the right type.
      expect(FAULT_CATALOGUE[kind].params.safeParse(parsed.params).success, kind).toBe(true);
    }
  });

  it('inject on this session, on the person, or on the chosen account, as the kind acts there', () => {
    expect(faultRequest(offerOf('network.changed'), OWN, {}, 60_000)).toEqual({
      kind: 'network.changed',
      target: { type: 'session', id: 'ses_a' },
      params: {},
    });
    expect(faultRequest(offerOf('push.late'), OWN, { delayMs: '20000' }, 60_000)).toEqual({
      kind: 'push.late',
      target: { type: 'user', id: 'usr_a' },
      params: { delayMs: 20_000 },
      schedule: { durationMs: 60_000 },
    });
    expect(faultRequest(offerOf('marketdata.revoked'), OWN, { bundle: 'US_SECURITIES' }, null)).toEqual({
      kind: 'marketdata.revoked',
      target: { type: 'account', id: 'DU1000001' },
      params: { bundle: 'US_SECURITIES' },
    });
    expect(faultRequest(offerOf('permission.removed'), OWN, { permission: 'OPT:US' }, null)?.params).toEqual({
      assetClass: 'OPT',
      region: 'US',
    });
    // An account kind without a chosen account makes no request.
    expect(faultRequest(offerOf('account.frozen'), { ...OWN, accountId: null }, {}, null)).toBeNull();
  });

  it('word targets and kinds for the person, and clear only what still acts', () => {
    expect(describeTarget({ type: 'session', id: 'ses_a' }, OWN)).toBe('This session');
    expect(describeTarget({ type: 'session', id: 'ses_b' }, OWN)).toBe('Session ses_b');
    expect(describeTarget({ type: 'user', id: 'usr_a' }, OWN)).toBe('You');
    expect(describeTarget({ type: 'account', id: 'DU1000001' }, OWN)).toBe('Account DU1000001');
    expect(kindLabel('network.changed')).toBe('Network change');
    expect(kindLabel('some.future_kind')).toBe('some.future_kind');
    expect(clearable({ state: 'active' })).toBe(true);
    expect(clearable({ state: 'scheduled' })).toBe(true);
    expect(clearable({ state: 'done' })).toBe(false);
    expect(clearable({ state: 'cleared' })).toBe(false);
  });
});

/**
 * Same rules, same reasons: the same orders placed through `/v1` and through the CPAPI face end the same way —
 * accepted on both, asked on both, or refused for the same Gatehouse code (and rule) on both. The session takes
 * trading back before each placement, so each path meets the gate with the brokerage tier held.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { findInstrument } from '../instruments/index.js';
import { type CpapiTest, startCpapiTest } from '../test-support/cpapi.js';
import { ALICE, callAs, type LoggedIn, loginTrading } from '../test-support/gateway.js';

let t: CpapiTest | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const AAPL = 265598;
const SAP = 14093;

interface Case {
  name: string;
  account: string;
  instrumentId: number;
  type: 'MKT' | 'LMT' | 'STP' | 'STP_LMT';
  side: 'BUY' | 'SELL';
  quantity: number;
  /** A multiple of the market's ask, for limit prices. */
  priceAt?: number;
}

const CASES: Case[] = [
  {
    name: 'a limit below the market',
    account: 'U1000001',
    instrumentId: AAPL,
    type: 'LMT',
    side: 'BUY',
    quantity: 2,
    priceAt: 0.9,
  },
  { name: 'a market order', account: 'U1000001', instrumentId: AAPL, type: 'MKT', side: 'BUY', quantity: 1 },
  {
    name: 'beyond buying power',
    account: 'U1000001',
    instrumentId: AAPL,
    type: 'LMT',
    side: 'BUY',
    quantity: 50_000,
    priceAt: 0.95,
  },
  {
    name: 'a frozen account',
    account: 'U1000009',
    instrumentId: AAPL,
    type: 'LMT',
    side: 'BUY',
    quantity: 1,
    priceAt: 0.9,
  },
  {
    name: 'no permission for the market',
    account: 'U1000001',
    instrumentId: SAP,
    type: 'MKT',
    side: 'BUY',
    quantity: 1,
  },
  {
    name: 'far through the market (a question)',
    account: 'U1000001',
    instrumentId: AAPL,
    type: 'LMT',
    side: 'BUY',
    quantity: 1,
    priceAt: 1.08,
  },
  {
    name: 'beyond the price band',
    account: 'U1000001',
    instrumentId: AAPL,
    type: 'LMT',
    side: 'BUY',
    quantity: 1,
    priceAt: 1.5,
  },
  {
    name: 'a short sale in a cash account',
    account: 'U1000009',
    instrumentId: AAPL,
    type: 'MKT',
    side: 'SELL',
    quantity: 5,
  },
  {
    name: 'a fractional quantity',
    account: 'U1000001',
    instrumentId: AAPL,
    type: 'MKT',
    side: 'BUY',
    quantity: 0.5,
  },
  {
    name: 'another user’s account',
    account: 'U2000002',
    instrumentId: AAPL,
    type: 'MKT',
    side: 'BUY',
    quantity: 1,
  },
];

type Outcome = 'accepted' | 'question' | `refused:${string}`;

describe('the CPAPI face and /v1 refuse the same orders for the same reasons', () => {
  it('ends each order the same way on both', async () => {
    t = await startCpapiTest();
    const test = t;
    const web: LoggedIn = await loginTrading(test.gw, ALICE);
    const instrumentAsk = (id: number) => {
      const instrument = findInstrument(id);
      if (instrument === undefined) throw new Error(`no instrument ${id}`);
      return test.gw.ctx.marketData.live(instrument).ask;
    };
    const limit = (c: Case) =>
      c.priceAt === undefined ? undefined : Math.round(instrumentAsk(c.instrumentId) * c.priceAt * 100) / 100;

    const viaV1 = async (c: Case, n: number): Promise<Outcome> => {
      await callAs(test.gw, 'POST', '/v1/session/brokerage', web, { compete: true });
      const price = limit(c);
      const response = await callAs(test.gw, 'POST', `/v1/accounts/${c.account}/orders`, web, {
        clientOrderId: `v1-${n}`,
        instrumentId: c.instrumentId,
        side: c.side,
        type: c.type,
        quantity: c.quantity,
        tif: 'DAY',
        ...(price === undefined ? {} : { limitPrice: price }),
      });
      if (response.statusCode === 201) return 'accepted';
      if (response.statusCode === 409) return 'question';
      const error = (response.json() as { error: { code: string; ruleId?: string } }).error;
      return `refused:${error.code}${error.ruleId === undefined ? '' : `/${error.ruleId}`}`;
    };

    const viaFace = async (c: Case, n: number): Promise<Outcome> => {
      await test.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: true });
      const price = limit(c);
      const response = await test.call('POST', `/iserver/account/${c.account}/orders`, {
        orders: [
          {
            conid: c.instrumentId,
            cOID: `face-${n}`,
            side: c.side,
            orderType: c.type,
            quantity: c.quantity,
            tif: 'DAY',
            ...(price === undefined ? {} : { price }),
          },
        ],
      });
      const body = response.json() as { error?: string } | { id?: string; order_id?: string }[];
      if (!Array.isArray(body)) {
        const match = /\[Gatehouse ([A-Z_]+)(?:, rule ([A-Za-z0-9_.-]+))?\]$/.exec(body.error ?? '');
        return `refused:${match?.[1] ?? `unparsed ${body.error}`}${match?.[2] === undefined ? '' : `/${match[2]}`}`;
      }
      return body[0]?.order_id !== undefined ? 'accepted' : 'question';
    };

    const outcomes = [];
    for (const [n, c] of CASES.entries()) {
      const v1 = await viaV1(c, n);
      const face = await viaFace(c, n);
      outcomes.push({ name: c.name, v1, face });
    }
    for (const o of outcomes) expect(o.face, o.name).toBe(o.v1);
    // The cases cover acceptance, a question and several distinct refusals.
    const kinds = new Set(outcomes.map((o) => o.v1));
    expect(kinds.has('accepted')).toBe(true);
    expect(kinds.has('question')).toBe(true);
    expect([...kinds].filter((k) => k.startsWith('refused:')).length).toBeGreaterThanOrEqual(5);
  });
});

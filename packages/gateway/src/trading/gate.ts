/**
 * @module trading/gate
 * The pre-trade gate (ARCHITECTURE.md, The pre-trade gate): ordered checks, each a small pure function over one
 * immutable snapshot of session, account, entitlements and market. The first check that rejects decides, with a
 * stable code (and the rule id when a product rule blocked). Checks that only need a person's explicit yes — no
 * or delayed market data, a price far through the market — add confirmation questions instead; an order with
 * open questions is never placed silently. The gate never throws and never does I/O.
 */

import {
  ORDER_TYPES,
  type OrderRequest,
  type OrderType,
  type Question,
  type Side,
  type TimeInForce,
} from '@gatehouse/protocol';
import type { ErrorCode } from '../core/index.js';
import {
  type AccountEntitlements,
  appliesTo,
  inForce,
  type ProductRule,
  permissionKey,
} from '../entitlements/index.js';
import type { Instrument } from '../instruments/index.js';
import type { Entitlement, Quote } from '../marketdata/index.js';
import { type TradingState, tradingRefusal } from '../sessions/index.js';

export { ORDER_TYPES, type OrderRequest, type OrderType, type Question, type Side, type TimeInForce };

export interface GateSnapshot {
  now: number;
  /**
   * The session's trading state, read authoritatively for this order, and its channel. Who may trade the account
   * at all (role, a program's `trade` scope) is decided before the gate, by the account-access policy (access/).
   */
  session: TradingState & { channel: string };
  /** Order types the session's channel may send. */
  allowedOrderTypes: readonly OrderType[];
  entitlements: AccountEntitlements;
  instrument: Instrument;
  order: OrderRequest;
  /**
   * The account's position in the instrument (negative: short) as the working orders on this order's side would
   * leave it (trading/working.ts): shares already offered cannot be sold again, nor a short already bought back.
   */
  position: number;
  /** Options: the account's position in the underlying (covers short calls), less the shares offered for sale. */
  underlyingPosition: number;
  /** The true market now. */
  quote: Quote;
  /** What the account may see of it. */
  marketData: Entitlement;
  /**
   * Buying power in the account's base currency — after what the working orders' opening parts reserve — and what
   * this order needs of it.
   */
  buyingPower: { available: number; required: number; currency: string };
  netLiquidationUsd: number;
  /** A limit this far (fraction of the touch) through the market asks for confirmation; beyond `reject`, rejected. */
  priceBand: { confirm: number; reject: number };
  /** Question ids the person has already answered yes to. */
  acknowledged: ReadonlySet<string>;
  rules: readonly ProductRule[];
}

export type Verdict =
  | { outcome: 'pass' }
  | { outcome: 'confirm'; question: Question }
  | {
      outcome: 'reject';
      code: ErrorCode;
      message?: string;
      /** A product rule's short label in plain words (`message` starts with it). */
      summary?: string;
      ruleId?: string;
      details?: Record<string, unknown>;
    };

export type GateResult =
  | { outcome: 'accept' }
  | { outcome: 'confirm'; questions: Question[] }
  | Extract<Verdict, { outcome: 'reject' }>;

const PASS: Verdict = { outcome: 'pass' };
const reject = (
  code: ErrorCode,
  extra: { message?: string; summary?: string; ruleId?: string; details?: Record<string, unknown> } = {},
): Verdict => ({ outcome: 'reject', code, ...extra });

/** The order opens or increases exposure (rather than only reducing a position). */
export function isOpening(side: Side, quantity: number, position: number): boolean {
  return side === 'BUY' ? position >= 0 || quantity > -position : position <= 0 || quantity > position;
}

/** Normalised options level a single-leg option order needs (0: closing, always allowed). */
export function requiredOptionsLevel(
  s: Pick<GateSnapshot, 'instrument' | 'order' | 'position' | 'underlyingPosition'>,
): number {
  const option = s.instrument.option;
  if (option === undefined || !isOpening(s.order.side, s.order.quantity, s.position)) return 0;
  if (s.order.side === 'BUY') return 2; // long call or put
  if (option.right === 'P') return 3; // short put: limited loss
  const shortCalls = Math.max(0, -s.position) + s.order.quantity;
  return s.underlyingPosition >= shortCalls * s.instrument.multiplier ? 1 : 4; // covered : naked call
}

function opening(s: GateSnapshot): boolean {
  return isOpening(s.order.side, s.order.quantity, s.position);
}

// 1. The session may trade now: the same rule modify and cancel apply (sessions/brokerage `tradingRefusal`).
export function checkSession(s: GateSnapshot): Verdict {
  const refusal = tradingRefusal(s.session);
  return refusal === null ? PASS : reject(refusal.code, refusal.details ? { details: refusal.details } : {});
}

// 2. (The token's `trade` scope and the user's role are the account-access policy's, checked before the gate.)

// 3. The order type is available on this channel.
export function checkOrderType(s: GateSnapshot): Verdict {
  return s.allowedOrderTypes.includes(s.order.type)
    ? PASS
    : reject('ORDER_TYPE_NOT_ALLOWED', { details: { channel: s.session.channel, type: s.order.type } });
}

// 4. The account is not frozen, and a closing-only account only reduces.
export function checkAccountFlags(s: GateSnapshot): Verdict {
  const { account } = s.entitlements;
  if (account.frozen) return reject('ACCOUNT_FROZEN');
  if (account.closingOnly && opening(s)) return reject('ACCOUNT_CLOSING_ONLY');
  return PASS;
}

// 5. The product is eligible for the account's legal entity and client category (rules as data, by date).
export function checkProductRules(s: GateSnapshot): Verdict {
  const { account } = s.entitlements;
  const subject = {
    entityCode: account.entityCode,
    clientCategory: account.clientCategory,
    accountType: account.type,
    netLiquidationUsd: s.netLiquidationUsd,
    instrument: s.instrument,
    opening: opening(s),
    side: s.order.side,
    marginIncreasing: opening(s) && (s.order.side === 'SELL' || s.instrument.assetClass === 'FUT'),
  };
  for (const rule of s.rules) {
    if (!appliesTo(rule, account.entityCode) || !inForce(rule, s.now)) continue;
    const blocked = rule.blocks(subject);
    if (blocked !== undefined)
      return reject(blocked.code, { message: blocked.message, summary: blocked.summary, ruleId: rule.id });
  }
  return PASS;
}

// 6. A trading permission for the asset class in the instrument's region.
export function checkPermission(s: GateSnapshot): Verdict {
  const key = permissionKey(s.instrument.assetClass, s.instrument.region);
  return s.entitlements.permissions.has(key)
    ? PASS
    : reject('PERMISSION_MISSING', { details: { permission: key } });
}

// 7. The options level covers the strategy.
export function checkOptionsLevel(s: GateSnapshot): Verdict {
  const required = requiredOptionsLevel(s);
  const level = s.entitlements.account.optionsLevel;
  return required <= level ? PASS : reject('OPTIONS_LEVEL_INSUFFICIENT', { details: { required, level } });
}

// 8. Shorting, futures and uncovered options need a margin account.
export function checkMarginType(s: GateSnapshot): Verdict {
  if (s.entitlements.account.type !== 'cash' || !opening(s)) return PASS;
  const { assetClass } = s.instrument;
  if (assetClass === 'FUT')
    return reject('MARGIN_NOT_ALLOWED', { message: 'Futures need a margin account.' });
  if (assetClass === 'FX') return PASS; // a currency conversion, paid in full
  if (s.order.side === 'SELL' && !(assetClass === 'OPT' && requiredOptionsLevel(s) <= 3)) {
    return reject('MARGIN_NOT_ALLOWED', { message: 'A cash account cannot sell short.' });
  }
  return PASS;
}

const DISCLOSURE_FOR: Partial<Record<Instrument['assetClass'], string>> = {
  OPT: 'options_risk',
  FUT: 'futures_risk',
  CRYPTO: 'crypto_risk',
};

// 9. The product's risk disclosure has been accepted.
export function checkDisclosures(s: GateSnapshot): Verdict {
  const needed = DISCLOSURE_FOR[s.instrument.assetClass];
  if (needed === undefined || !opening(s) || s.entitlements.disclosures.has(needed)) return PASS;
  return reject('DISCLOSURE_REQUIRED', { details: { disclosure: needed } });
}

// 10. Buying power covers what the order needs.
export function checkBuyingPower(s: GateSnapshot): Verdict {
  const { available, required, currency } = s.buyingPower;
  if (!opening(s) || required <= available + 1e-9) return PASS;
  return reject('INSUFFICIENT_BUYING_POWER', {
    ...(s.entitlements.account.type === 'margin' ? { ruleId: 'REG_T' } : {}),
    details: { required: round2(required), available: round2(available), currency },
  });
}

const round2 = (n: number) => Math.round(n * 100) / 100;

export const NO_MARKET_DATA: Question = {
  id: 'no_market_data',
  message:
    'You are submitting an order without market data. We strongly recommend against this as it may result in erroneous and unexpected trades. Are you sure you want to submit this order?',
};
export const DELAYED_MARKET_DATA: Question = {
  id: 'delayed_market_data',
  message:
    'Your market data for this instrument is delayed by 15 minutes; the price you see may be far from the market. Are you sure you want to submit this order?',
};

// 11. Without live market data the person must say yes explicitly.
export function checkMarketData(s: GateSnapshot): Verdict {
  const question =
    s.marketData.type === 'none'
      ? NO_MARKET_DATA
      : s.marketData.type === 'delayed'
        ? DELAYED_MARKET_DATA
        : null;
  if (question === null || s.acknowledged.has(question.id)) return PASS;
  return { outcome: 'confirm', question };
}

export const PRICE_FAR_THROUGH_MARKET = 'price_far_through_market';

// 12. A limit far through the market (fat finger): confirmation, or beyond the outer band a rejection.
export function checkPriceBand(s: GateSnapshot): Verdict {
  const limit = s.order.limitPrice;
  if (limit === undefined || (s.order.type !== 'LMT' && s.order.type !== 'STP_LMT')) return PASS;
  const touch = s.order.side === 'BUY' ? s.quote.ask : s.quote.bid;
  const through = s.order.side === 'BUY' ? (limit - touch) / touch : (touch - limit) / touch;
  if (through > s.priceBand.reject) {
    return reject('PRICE_OUT_OF_BAND', {
      details: { limitPrice: limit, market: touch, bandPct: s.priceBand.reject * 100 },
    });
  }
  if (through > s.priceBand.confirm && !s.acknowledged.has(PRICE_FAR_THROUGH_MARKET)) {
    return {
      outcome: 'confirm',
      question: {
        id: PRICE_FAR_THROUGH_MARKET,
        message: `The limit price ${limit} is ${(through * 100).toFixed(1)}% through the market (${touch}). Are you sure you want to submit this order?`,
      },
    };
  }
  return PASS;
}

/** The checks in the order ARCHITECTURE.md gives them. */
export const GATE_CHECKS: readonly { name: string; check: (s: GateSnapshot) => Verdict }[] = [
  { name: 'session', check: checkSession },
  { name: 'order_type', check: checkOrderType },
  { name: 'account_flags', check: checkAccountFlags },
  { name: 'product_rules', check: checkProductRules },
  { name: 'permission', check: checkPermission },
  { name: 'options_level', check: checkOptionsLevel },
  { name: 'margin_type', check: checkMarginType },
  { name: 'disclosures', check: checkDisclosures },
  { name: 'buying_power', check: checkBuyingPower },
  { name: 'market_data', check: checkMarketData },
  { name: 'price_band', check: checkPriceBand },
];

/** Runs the checks in order: the first rejection decides; questions from the others are collected. */
export function evaluateGate(s: GateSnapshot): GateResult {
  const questions: Question[] = [];
  for (const { check } of GATE_CHECKS) {
    const verdict = check(s);
    if (verdict.outcome === 'reject') return verdict;
    if (verdict.outcome === 'confirm') questions.push(verdict.question);
  }
  return questions.length > 0 ? { outcome: 'confirm', questions } : { outcome: 'accept' };
}

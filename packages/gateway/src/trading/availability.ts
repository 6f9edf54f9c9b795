/**
 * @module trading/availability
 * Whether an account may open or close a position in an instrument, before any order: the pre-trade gate's own
 * account, product-rule, permission, options-level, margin-type and disclosure checks (trading/gate.ts), run on the
 * same snapshot order entry builds for a one-lot buy from flat (opening) and a one-lot sale of a position held
 * (closing) — one place decides, here as at order entry — with the verdicts in plain words (trading/restrictions.ts).
 * The session's tier, buying power, market-data questions and price bands belong to a particular order and are
 * left to order entry. Funds tracking the same index are offered with their own availability when the instrument
 * cannot be bought.
 */
import type { Availability, InstrumentView, Restriction } from '@gatehouse/protocol';
import { accountAccess } from '../access/index.js';
import { GatehouseError } from '../core/index.js';
import type { UserAccount } from '../identity/index.js';
import { equivalentsOf, findInstrument, type Instrument, MARKET_DATA_BUNDLES } from '../instruments/index.js';
import { entitlementFor } from '../marketdata/index.js';
import type { Principal } from '../sessions/index.js';
import type { Desk } from './desk.js';
import { GATE_CHECKS, type GateSnapshot, type OrderRequest, type Verdict } from './gate.js';
import { deskSnapshot, gateInputs } from './place.js';
import { plainWords } from './restrictions.js';
import type { GateInputs } from './snapshot.js';

/** The gate's checks that judge the account and the product rather than one order's moment. */
export const AVAILABILITY_CHECKS = [
  'account_flags',
  'product_rules',
  'permission',
  'options_level',
  'margin_type',
  'disclosures',
] as const;

const CHECKS = GATE_CHECKS.filter((c) => (AVAILABILITY_CHECKS as readonly string[]).includes(c.name));

type Core = Omit<Availability, 'accountId' | 'canTrade' | 'marketData' | 'optionsLevel' | 'equivalents'>;

/** An instrument as the catalogue lists it (`GET /v1/instruments`). */
export function presentInstrument({ basePrice: _b, volatility: _v, ...view }: Instrument): InstrumentView {
  return view;
}

function restriction(verdict: Extract<Verdict, { outcome: 'reject' }>): Restriction {
  const words = plainWords(verdict);
  const message = words?.message ?? new GatehouseError(verdict.code).message;
  return {
    code: verdict.code,
    ...(verdict.ruleId === undefined ? {} : { ruleId: verdict.ruleId }),
    ...(verdict.details === undefined ? {} : { details: verdict.details }),
    summary: words?.summary ?? message.replace(/\.$/, ''),
    message,
  };
}

function firstRejection(snapshot: GateSnapshot): Restriction | undefined {
  for (const { check } of CHECKS) {
    const verdict = check(snapshot);
    if (verdict.outcome === 'reject') return restriction(verdict);
  }
  return undefined;
}

/**
 * Why this principal may not trade the account at all, asked of the account-access policy (access/): a viewer's
 * role, or a program's token without the `trade` scope; undefined when it may.
 */
function tradeRefusal(principal: Principal, accountId: string): Restriction | undefined {
  try {
    accountAccess(principal, accountId, 'trade');
    return undefined;
  } catch (error) {
    if (!(error instanceof GatehouseError)) throw error;
    const summary =
      error.code === 'SCOPE_REQUIRED'
        ? 'View only — this access token has no trade scope'
        : 'View only — your role on this account does not trade';
    const explanation =
      error.code === 'SCOPE_REQUIRED'
        ? 'A token with the trade scope places and cancels orders.'
        : 'Its owner or a trader places and cancels orders.';
    return {
      code: error.code,
      ...(error.details === undefined ? {} : { details: error.details }),
      summary,
      message: `${summary}. ${explanation}`,
    };
  }
}

/** One instrument's availability on the account as the gate sees it (see the module's header). */
function judge(
  desk: Desk,
  principal: Principal,
  account: UserAccount,
  inputs: GateInputs,
  instrument: Instrument,
): Core {
  const side = (s: 'BUY' | 'SELL') => {
    const order: OrderRequest = {
      clientOrderId: 'availability',
      instrumentId: instrument.id,
      side: s,
      type: 'MKT',
      quantity: instrument.lotSize,
      tif: 'DAY',
    };
    const snapshot = deskSnapshot(desk, principal, account, inputs, instrument, order);
    // Opening: a buy from flat. Closing: the sale of a long position of that size.
    const rejection = firstRejection({ ...snapshot, position: s === 'BUY' ? 0 : instrument.lotSize });
    return rejection === undefined ? { allowed: true } : { allowed: false, restriction: rejection };
  };
  const open = side('BUY');
  const close = side('SELL');
  const status = open.allowed
    ? close.allowed
      ? 'available'
      : 'not_available'
    : close.allowed
      ? 'closing_only'
      : 'not_available';
  // What blocks closing blocks everything (a permission, a frozen account); otherwise what blocks opening.
  const blocked = close.restriction ?? open.restriction;
  return {
    instrumentId: instrument.id,
    status,
    summary: blocked?.summary ?? 'Available on this account',
    open,
    close,
  };
}

/** The answer for a principal that may not trade the account: view only, whatever the gate would say. */
function viewOnly(core: Core, refusal: Restriction): Core {
  const refused = { allowed: false, restriction: refusal };
  return { ...core, status: 'view_only', summary: refusal.summary, open: refused, close: refused };
}

const STATUS_ORDER = { available: 0, closing_only: 1, view_only: 2, not_available: 3 } as const;

/**
 * `GET /v1/accounts/{accountId}/instruments/{instrumentId}/availability`: for anyone who may view the account
 * (a viewer learns that the role does not trade); another user's account answers as an unknown one does.
 */
export async function instrumentAvailability(
  desk: Desk,
  principal: Principal,
  accountId: string,
  instrumentId: number,
): Promise<Availability> {
  const account = accountAccess(principal, accountId, 'view');
  const instrument = findInstrument(instrumentId);
  if (instrument === undefined) throw new GatehouseError('INSTRUMENT_NOT_FOUND', undefined, { instrumentId });
  const refusal = tradeRefusal(principal, account.id);
  const inputs = await gateInputs(desk, principal, account, instrument, false);
  const gate = judge(desk, principal, account, inputs, instrument);
  const equivalents: Availability['equivalents'] = [];
  if (!gate.open.allowed) {
    for (const other of equivalentsOf(instrument)) {
      const judged = judge(
        desk,
        principal,
        account,
        await gateInputs(desk, principal, account, other, false),
        other,
      );
      equivalents.push({
        ...(refusal === undefined ? judged : viewOnly(judged, refusal)),
        instrument: presentInstrument(other),
      });
    }
  }
  const entitlement = entitlementFor(instrument, inputs.entitlements.subscriptions);
  return {
    accountId: account.id,
    ...(refusal === undefined ? gate : viewOnly(gate, refusal)),
    canTrade: refusal === undefined,
    marketData: {
      type: entitlement.type,
      bundle: entitlement.bundle,
      name: MARKET_DATA_BUNDLES[entitlement.bundle].name,
    },
    optionsLevel: inputs.entitlements.account.optionsLevel,
    equivalents: equivalents.sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status]),
  };
}

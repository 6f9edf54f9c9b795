/**
 * @module cpapi/portfolio
 * An account valued as the face shows it — in `portfolio/…`, `iserver/account/pnl/partitioned` and the WebSocket's
 * `spl` — and the `iserver/accounts` content (also the WebSocket's `act`). Net liquidation, cash, initial margin and
 * buying power are Gatehouse's own (`TradingService.summary`); a position is priced at the mid of the quote the
 * account may see (`MarketData.view`: live with a subscription, otherwise delayed), never one it is not entitled
 * to, or at its average price when it may see none.
 */
import type { PortfolioView } from '@gatehouse/protocol';
import { accountAccess, accountsFor } from '../access/index.js';
import { sha256Hex } from '../core/index.js';
import type { UserAccount } from '../identity/index.js';
import { findInstrument, INSTRUMENTS, type Instrument } from '../instruments/index.js';
import type { EntitledQuote, MarketData } from '../marketdata/index.js';
import type { Principal } from '../sessions/index.js';
import type { TradingService } from '../trading/index.js';
import { SEC_TYPES } from './contracts.js';
import type { FaceIdentity } from './status.js';
import type { IserverAccountsResponse, PnlRow } from './wire/index.js';

const FX_PAIRS = INSTRUMENTS.filter((i) => i.fx !== undefined);

/** Gatehouse orders are in units of the instrument: no cash quantity, no fractional shares. */
export const ACCOUNT_PROPS = {
  hasChildAccounts: false,
  supportsCashQty: false,
  noFXConv: false,
  isProp: false,
  supportsFractions: false,
  allowCustomerTime: false,
};

/** Amounts to 1e-8, as the paper ledger keeps them, so float noise does not reach the wire. */
export const money = (n: number) => Math.round(n * 1e8) / 1e8;

/** One position valued: quantity, prices per unit, and values in the instrument's currency. */
export interface Holding {
  instrument: Instrument;
  quantity: number;
  avgPrice: number;
  mktPrice: number;
  mktValue: number;
  unrealized: number;
}

/** An account as the principal sees it: Gatehouse's valuation, its positions priced, conversion to base. */
export interface Valued {
  account: UserAccount;
  view: PortfolioView;
  holdings: Holding[];
  toBase(amount: number, currency: string): number;
}

/** The account valued for the principal (who must be allowed to view it). */
export async function valueAccount(
  deps: { trading: TradingService; marketData: MarketData },
  principal: Principal,
  accountId: string,
): Promise<Valued> {
  const { trading, marketData } = deps;
  const account = accountAccess(principal, accountId, 'view');
  const [view, { subscriptions }] = await Promise.all([
    trading.summary(principal, account.id),
    trading.marketDataView(principal, account.id),
  ]);
  const seen = (instrument: Instrument) => marketData.view(instrument, subscriptions);
  const toBase = converter(seen, account.baseCurrency);
  const holdings = view.positions.flatMap((p): Holding[] => {
    const instrument = findInstrument(p.instrumentId);
    if (instrument === undefined) return [];
    const mktPrice = midOf(seen(instrument)) ?? p.avgCost;
    const m = instrument.multiplier;
    return [
      {
        instrument,
        quantity: p.quantity,
        avgPrice: p.avgCost,
        mktPrice,
        mktValue: money(p.quantity * mktPrice * m),
        unrealized: money((mktPrice - p.avgCost) * p.quantity * m),
      },
    ];
  });
  return { account, view, holdings, toBase };
}

/** The mid of a quote, else its last price; null when the account may see no price at all. */
function midOf(q: EntitledQuote): number | null {
  if (q.bid !== null && q.ask !== null) return (q.bid + q.ask) / 2;
  return q.last;
}

/** Conversion to `base` at the FX mids (FX quotes are live for everyone: `MARKET_DATA_BUNDLES.FX`). */
function converter(seen: (i: Instrument) => EntitledQuote, base: string): Valued['toBase'] {
  const perUsd = new Map<string, number>([['USD', 1]]);
  for (const pair of FX_PAIRS) {
    const mid = midOf(seen(pair));
    const other = pair.fx?.base;
    if (mid === null || other === undefined) continue;
    if (pair.currency === 'USD') perUsd.set(other, 1 / mid);
    else if (other === 'USD') perUsd.set(pair.currency, mid);
  }
  return (amount, currency) => {
    if (currency === base) return amount;
    const from = perUsd.get(currency);
    const to = perUsd.get(base);
    if (from === undefined || to === undefined) throw new Error(`no FX rate for ${currency}/${base}`);
    return (amount / from) * to;
  };
}

/** Cash and position values in base; excess liquidity against the one margin Gatehouse models (initial). */
export function totals(v: Valued) {
  const cash = Object.entries(v.view.cash).reduce((sum, [ccy, amount]) => sum + v.toBase(amount, ccy), 0);
  const inBase = (pick: (h: Holding) => number) =>
    v.holdings.reduce((sum, h) => sum + v.toBase(pick(h), h.instrument.currency), 0);
  return {
    cash: money(cash),
    marketValue: money(inBase((h) => h.mktValue)),
    gross: money(inBase((h) => Math.abs(h.mktValue))),
    unrealized: money(inBase((h) => h.unrealized)),
    excess: money(v.view.netLiquidation - v.view.initialMargin),
  };
}

/** One row of partitioned P&L. Gatehouse keeps no prior-day valuation, so daily P&L (`dpl`) is 0. */
export function pnlRow(v: Valued): PnlRow {
  const t = totals(v);
  return {
    rowType: 1,
    dpl: 0,
    nl: v.view.netLiquidation,
    upl: t.unrealized,
    el: t.excess,
    mv: t.marketValue,
  };
}

/** The `iserver/accounts` content for the principal, with the listener's selected account (campus "Accounts"). */
export function iserverAccounts(
  principal: Principal,
  identity: FaceIdentity,
  selectedAccount: string,
): IserverAccountsResponse {
  const accounts = accountsFor(principal, 'view');
  const ids = accounts.map((a) => a.id);
  const session = sha256Hex(`cpapi-session:${principal.session.id}`);
  return {
    accounts: ids,
    acctProps: Object.fromEntries(ids.map((id) => [id, ACCOUNT_PROPS])),
    aliases: Object.fromEntries(ids.map((id) => [id, id])),
    // What the catalogue offers; whether an account may trade it is the gate's answer per order.
    allowFeatures: {
      showGFIS: true,
      allowFXConv: true,
      snapshotRefreshTimeout: 30,
      liteUser: false,
      allowCrypto: true,
      allowedAssetTypes: SEC_TYPES.join(','),
    },
    chartPeriods: Object.fromEntries(SEC_TYPES.map((t) => [t, ['*']])),
    groups: [],
    profiles: [],
    selectedAccount: selectedAccount,
    serverInfo: identity.serverInfo,
    // IBKR's `1234a5b.12345678`: derived from the session, never its token.
    sessionId: `${session.slice(0, 7)}.${session.slice(7, 15)}`,
    isFT: false,
    // A paper login at IBKR has only paper (`DU…`) accounts.
    isPaper: accounts.length > 0 && accounts.every((a) => a.paper),
  };
}

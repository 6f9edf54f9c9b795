import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { accountAccess, accountsFor } from '../../access/index.js';
import { type Clock, GatehouseError } from '../../core/index.js';
import type { UserAccount } from '../../identity/index.js';
import type { AssetClass } from '../../instruments/index.js';
import type { MarketData } from '../../marketdata/index.js';
import type { Principal } from '../../sessions/index.js';
import type { TradingService } from '../../trading/index.js';
import { contractFields } from '../contracts.js';
import { bridged, type FaceState, IbkrError, loggedIn, parseWire } from '../kit.js';
import {
  type Holding,
  iserverAccounts,
  money,
  pnlRow,
  totals,
  type Valued,
  valueAccount,
} from '../portfolio.js';
import {
  type IserverAccountsResponse,
  type LedgerEntry,
  type LedgerResponse,
  type PnlPartitionedResponse,
  type PortfolioAccount,
  type PortfolioSummaryResponse,
  type Position,
  type SummaryEntry,
  type SwitchAccountResponse,
  switchAccountBodySchema,
} from '../wire/index.js';

export interface AccountRoutesDeps {
  face: FaceState;
  trading: TradingService;
  /** The entitled quotes positions are priced with (`MarketData.view`). */
  marketData: MarketData;
  clock: Clock;
}

/** IBKR's positions page size (ibind `positions`: `pageSize: 100`). */
const PAGE_SIZE = 100;

/** IBKR's fields Gatehouse has no counterpart for: no models, sectors, exchange maps, aliases or advisors. */
const NO_COUNTERPART = {
  position: { model: '', time: 0, conExchMap: [], exchs: null, exerciseStyle: null },
  account: { accountAlias: null, faclient: false, covestor: false, trackVirtualFXPortfolio: false },
};

/** IBKR's `tradingType` per account type: cash, Reg T margin, portfolio margin. */
const TRADING_TYPE = { cash: 'STKCASH', margin: 'STKMRGN', portfolio_margin: 'PMRGN' } as const;

const accountParams = z.object({ accountId: z.string() });
const pageParams = accountParams.extend({ pageId: z.string().regex(/^\d{1,6}$/, 'a page number') });
const conidParams = accountParams.extend({ conid: z.string().regex(/^[1-9]\d{0,11}$/, 'a conid') });

export async function accountRoutes(app: FastifyInstance, deps: AccountRoutesDeps): Promise<void> {
  const { face, clock } = deps;
  /**
   * The listener's selected account (`iserver/account`), kept for the held session: a new login (another user's, or
   * the same user's again) starts at the first account, as a new IBKR brokerage session does.
   */
  let selected: { sessionId: string; accountId: string } | null = null;
  const selection = (principal: Principal, ids: readonly string[]) => {
    const sessionId = principal.session.id;
    if (selected?.sessionId !== sessionId || !ids.includes(selected.accountId))
      selected = { sessionId, accountId: ids[0] ?? '' };
    return selected;
  };

  app.get('/v1/api/iserver/accounts', async (): Promise<IserverAccountsResponse> => {
    const principal = await bridged(face);
    const ids = accountsFor(principal, 'view').map((a) => a.id);
    return iserverAccounts(principal, face.identity, selection(principal, ids).accountId);
  });

  // An account that is not the user's is IBKR's 400 (research §1; ibind issue 122), and the selection stays.
  app.post('/v1/api/iserver/account', async (request): Promise<SwitchAccountResponse> => {
    const principal = await bridged(face);
    const { acctId } = parseWire(switchAccountBodySchema, request.body);
    let account: UserAccount;
    try {
      account = accountAccess(principal, acctId, 'view');
    } catch (error) {
      if (error instanceof GatehouseError && error.code === 'ACCOUNT_NOT_FOUND')
        throw new IbkrError(400, `Bad Request: accountId is not valid: ${acctId}`);
      throw error;
    }
    const ids = accountsFor(principal, 'view').map((a) => a.id);
    selection(principal, ids).accountId = account.id;
    return { set: true, acctId: account.id };
  });

  const portfolioAccounts = async (principal: Principal): Promise<PortfolioAccount[]> => {
    const tradable = new Set(accountsFor(principal, 'trade').map((a) => a.id));
    return accountsFor(principal, 'view').map((a) => portfolioAccount(a, tradable.has(a.id)));
  };
  app.get('/v1/api/portfolio/accounts', async () => portfolioAccounts(await loggedIn(face)));
  // Gatehouse has no advisor or multi-account structures: the subaccounts are the accounts themselves.
  app.get('/v1/api/portfolio/subaccounts', async () => portfolioAccounts(await loggedIn(face)));

  app.get('/v1/api/portfolio/:accountId/meta', async (request): Promise<PortfolioAccount> => {
    const principal = await loggedIn(face);
    const { accountId } = parseWire(accountParams, request.params);
    const account = accountAccess(principal, accountId, 'view');
    const tradable = accountsFor(principal, 'trade').some((a) => a.id === account.id);
    return portfolioAccount(account, tradable);
  });

  /** The account a `/portfolio/{accountId}/…` path names, valued, with the path's other parameters. */
  const named = async <S extends z.ZodType<{ accountId: string }>>(request: FastifyRequest, schema: S) => {
    const principal = await loggedIn(face);
    const params: z.infer<S> = parseWire(schema, request.params);
    return { params, v: await valueAccount(deps, principal, params.accountId) };
  };
  app.get('/v1/api/portfolio/:accountId/summary', async (request) =>
    summaryOf((await named(request, accountParams)).v, clock.now()),
  );
  app.get('/v1/api/portfolio/:accountId/ledger', async (request) =>
    ledgerOf((await named(request, accountParams)).v, clock.now()),
  );
  app.get('/v1/api/portfolio/:accountId/positions/:pageId', async (request): Promise<Position[]> => {
    const { params, v } = await named(request, pageParams);
    const start = Number(params.pageId) * PAGE_SIZE;
    return positionsOf(v).slice(start, start + PAGE_SIZE);
  });
  // An array as `positions` is, empty when the account holds none of the contract (campus "Position by Conid").
  app.get('/v1/api/portfolio/:accountId/position/:conid', async (request): Promise<Position[]> => {
    const { params, v } = await named(request, conidParams);
    return positionsOf(v).filter((p) => p.conid === Number(params.conid));
  });

  app.get('/v1/api/iserver/account/pnl/partitioned', async (): Promise<PnlPartitionedResponse> => {
    const principal = await bridged(face);
    const all = await Promise.all(
      accountsFor(principal, 'view').map((a) => valueAccount(deps, principal, a.id)),
    );
    return { upnl: Object.fromEntries(all.map((v) => [`${v.account.id}.Core`, pnlRow(v)])) };
  });
}

/**
 * IBKR's account summary (openapi `PortfolioSummary`; campus "Account Summary"). Gatehouse models one margin
 * requirement, initial, which it holds positions to: IBKR's maintenance figures carry it too, and excess liquidity
 * is net liquidation less it. Gatehouse's buying power is what the gate holds an order's requirement to (its
 * initial margin on a margin account), so it is both IBKR's `availablefunds` and `buyingpower`.
 */
function summaryOf(v: Valued, now: number): PortfolioSummaryResponse {
  const ccy = v.account.baseCurrency;
  const t = totals(v);
  const { netLiquidation: nlv, initialMargin: im, buyingPower: bp } = v.view;
  const amount = (n: number, currency: string | null = ccy): SummaryEntry => ({
    amount: money(n),
    currency,
    isNull: false,
    timestamp: now,
    value: null,
    severity: 0,
  });
  const text = (value: string): SummaryEntry => ({ ...amount(0, null), value });
  return {
    accountcode: text(v.account.id),
    accountready: text('true'),
    accounttype: text(v.account.paper ? 'DEMO' : 'INDIVIDUAL'),
    netliquidation: amount(nlv),
    equitywithloanvalue: amount(nlv),
    totalcashvalue: amount(t.cash),
    settledcash: amount(t.cash),
    grosspositionvalue: amount(t.gross),
    initmarginreq: amount(im),
    fullinitmarginreq: amount(im),
    maintmarginreq: amount(im),
    fullmaintmarginreq: amount(im),
    availablefunds: amount(bp),
    fullavailablefunds: amount(bp),
    excessliquidity: amount(t.excess),
    fullexcessliquidity: amount(t.excess),
    buyingpower: amount(bp),
    cushion: amount(nlv > 0 ? t.excess / nlv : 0, null),
  };
}

/**
 * IBKR's ledger (ibind `ledger`): `BASE` in the base currency, whose net liquidation is Gatehouse's, then one entry
 * per currency held. `timestamp` is epoch seconds; `endofbundle` marks the last entry. Gatehouse pays no dividends
 * or interest and holds no funds, bills, warrants or commodities: those are 0; its one bond is a Treasury
 * (`tbondsmarketvalue`). Realized P&L is not kept per day: 0.
 */
function ledgerOf(v: Valued, now: number): LedgerResponse {
  const held = [...new Set([...Object.keys(v.view.cash), ...v.holdings.map((h) => h.instrument.currency)])];
  const keys = ['BASE', ...held.sort()];
  const entry = (key: string): LedgerEntry => {
    const base = key === 'BASE';
    const convert = base ? v.toBase : (n: number) => n;
    const mine = v.holdings.filter((h) => base || h.instrument.currency === key);
    const sum = (classes: readonly AssetClass[], pick = (h: Holding) => h.mktValue) =>
      money(
        mine
          .filter((h) => classes.includes(h.instrument.assetClass))
          .reduce((total, h) => total + convert(pick(h), h.instrument.currency), 0),
      );
    const cash = money(
      Object.entries(v.view.cash)
        .filter(([c]) => base || c === key)
        .reduce((total, [c, n]) => total + convert(n, c), 0),
    );
    const futuresPnl = sum(['FUT'], (h) => h.unrealized);
    const nonFutures = sum(['STK', 'ETF', 'OPT', 'CRYPTO', 'BOND']);
    return {
      acctcode: v.account.id,
      cashbalance: cash,
      cashbalancefxsegment: 0,
      commoditymarketvalue: 0,
      corporatebondsmarketvalue: 0,
      cryptocurrencyvalue: sum(['CRYPTO']),
      currency: key,
      dividends: 0,
      exchangerate: base ? 1 : money(v.toBase(1, key)),
      funds: 0,
      futuremarketvalue: sum(['FUT']),
      futureoptionmarketvalue: 0,
      futuresonlypnl: futuresPnl,
      interest: 0,
      issueroptionsmarketvalue: 0,
      key: 'LedgerList',
      moneyfunds: 0,
      netliquidationvalue: base ? v.view.netLiquidation : money(cash + nonFutures + futuresPnl),
      realizedpnl: 0,
      secondkey: key,
      sessionid: 1,
      settledcash: cash,
      severity: 0,
      stockmarketvalue: sum(['STK', 'ETF']),
      stockoptionmarketvalue: sum(['OPT']),
      tbillsmarketvalue: 0,
      tbondsmarketvalue: sum(['BOND']),
      timestamp: Math.floor(now / 1000),
      unrealizedpnl: sum(['STK', 'ETF', 'OPT', 'FUT', 'CRYPTO', 'BOND'], (h) => h.unrealized),
      warrantsmarketvalue: 0,
      ...(key === keys.at(-1) ? { endofbundle: 1 } : {}),
    };
  };
  return Object.fromEntries(keys.map((key) => [key, entry(key)]));
}

/** IBKR's positions, sorted by description (ibind `positions`; campus "Positions"). */
function positionsOf(v: Valued): Position[] {
  return v.holdings
    .map((h) => ({
      ...contractFields(h.instrument),
      acctId: v.account.id,
      contractDesc: h.instrument.symbol,
      position: h.quantity,
      mktPrice: money(h.mktPrice),
      mktValue: h.mktValue,
      // IBKR's `avgCost` is per contract (price × multiplier); `avgPrice` per unit.
      avgCost: money(h.avgPrice * h.instrument.multiplier),
      avgPrice: money(h.avgPrice),
      realizedPnl: 0,
      unrealizedPnl: h.unrealized,
      pageSize: PAGE_SIZE,
      ...NO_COUNTERPART.position,
    }))
    .sort((a, b) => a.contractDesc.localeCompare(b.contractDesc) || a.conid - b.conid);
}

/**
 * An account as `portfolio/accounts` lists it (ibind `accounts`). Paper accounts are IBKR's `DEMO` type; an
 * account the user may not trade (a viewer's, or a frozen one) says `noClientTrading`. Gatehouse does not expose
 * when an account was opened: `accountStatus` is 0.
 */
function portfolioAccount(a: UserAccount, tradable: boolean): PortfolioAccount {
  return {
    id: a.id,
    accountId: a.id,
    accountVan: a.id,
    accountTitle: a.title,
    displayName: a.title,
    accountStatus: 0,
    currency: a.baseCurrency,
    type: a.paper ? 'DEMO' : 'INDIVIDUAL',
    tradingType: TRADING_TYPE[a.type],
    businessType: 'INDEPENDENT',
    ibEntity: a.entity.code,
    clearingStatus: 'O',
    noClientTrading: !tradable || a.frozen,
    ...NO_COUNTERPART.account,
    brokerageAccess: true,
    parent: { mmc: [], accountId: '', isMParent: false, isMChild: false, isMultiplex: false },
    desc: a.id,
  };
}

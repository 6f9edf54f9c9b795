/**
 * @module cpapi/wire/accounts
 * Accounts and portfolio: iserver/accounts, the account switch, portfolio/accounts, subaccounts, meta, summary,
 * ledger, positions and partitioned P&L (sources: see ./common.ts).
 */
import { z } from 'zod';
import { conidSchema, serverInfoSchema } from './common.js';

/** `GET /iserver/accounts`, the pre-flight before orders and snapshots (campus "Accounts"; research §3). */
export const iserverAccountsResponseSchema = z.looseObject({
  accounts: z.array(z.string()),
  acctProps: z.record(
    z.string(),
    z.looseObject({
      hasChildAccounts: z.boolean(),
      supportsCashQty: z.boolean(),
      noFXConv: z.boolean(),
      isProp: z.boolean(),
      supportsFractions: z.boolean(),
      allowCustomerTime: z.boolean(),
    }),
  ),
  aliases: z.record(z.string(), z.string()),
  /** Abridged in the research; the values seen are booleans, a number (`snapshotRefreshTimeout`) and a string. */
  allowFeatures: z.record(z.string(), z.union([z.boolean(), z.number(), z.string()])),
  chartPeriods: z.record(z.string(), z.array(z.string())),
  groups: z.array(z.string()),
  profiles: z.array(z.string()),
  selectedAccount: z.string(),
  serverInfo: serverInfoSchema,
  sessionId: z.string(),
  isFT: z.boolean(),
  isPaper: z.boolean(),
});
export type IserverAccountsResponse = z.infer<typeof iserverAccountsResponseSchema>;

/** `POST /iserver/account` switches the selected account: body `{acctId}` (openapi `IserverAccountPostRequest`). */
export const switchAccountBodySchema = z.looseObject({ acctId: z.string() });
export type SwitchAccountBody = z.infer<typeof switchAccountBodySchema>;

/** …answered `{set, acctId}` (openapi `SetAccountResponse`). */
export const switchAccountResponseSchema = z.looseObject({ set: z.boolean(), acctId: z.string() });
export type SwitchAccountResponse = z.infer<typeof switchAccountResponseSchema>;

/**
 * One account as `GET /portfolio/accounts` lists it (ibind `accounts`, a real capture; campus "Portfolio Accounts").
 * `portfolio/subaccounts` lists the same objects and `portfolio/{acct}/meta` answers one (campus "Portfolio
 * Subaccounts", "Account Metadata"). `accountStatus` is epoch milliseconds; `type` is `DEMO` for paper accounts.
 */
export const portfolioAccountSchema = z.looseObject({
  id: z.string(),
  accountId: z.string(),
  accountVan: z.string(),
  accountTitle: z.string(),
  displayName: z.string(),
  accountAlias: z.string().nullable(),
  accountStatus: z.number().int(),
  currency: z.string(),
  type: z.string(),
  tradingType: z.string(),
  businessType: z.string().optional(),
  ibEntity: z.string().optional(),
  faclient: z.boolean(),
  clearingStatus: z.string(),
  covestor: z.boolean(),
  noClientTrading: z.boolean().optional(),
  trackVirtualFXPortfolio: z.boolean().optional(),
  brokerageAccess: z.boolean().optional(),
  parent: z.looseObject({
    mmc: z.array(z.string()),
    accountId: z.string(),
    isMParent: z.boolean(),
    isMChild: z.boolean(),
    isMultiplex: z.boolean(),
  }),
  desc: z.string(),
});
export type PortfolioAccount = z.infer<typeof portfolioAccountSchema>;
export const portfolioAccountsResponseSchema = z.array(portfolioAccountSchema);
export const portfolioSubaccountsResponseSchema = z.array(portfolioAccountSchema);
export const portfolioMetaResponseSchema = portfolioAccountSchema;

/**
 * One entry of `GET /portfolio/{acct}/summary`, a map keyed by lower-case names (`netliquidation`,
 * `availablefunds`, `accountcode`, … with `-c`/`-s` segment variants). Numeric data sits in `amount`, text in
 * `value`; `timestamp` is epoch milliseconds (openapi `PortfolioSummary*` entries; campus "Account Summary").
 * The openapi document types `currency` as a number, which its own description contradicts ("the currency in which
 * the value of the 'amount' field is denominated"); the face sends a currency code or null.
 */
export const summaryEntrySchema = z.looseObject({
  amount: z.number(),
  currency: z.string().nullable(),
  isNull: z.boolean(),
  timestamp: z.number().int(),
  value: z.string().nullable(),
  severity: z.number().int(),
});
export type SummaryEntry = z.infer<typeof summaryEntrySchema>;
export const portfolioSummaryResponseSchema = z.record(z.string(), summaryEntrySchema);
export type PortfolioSummaryResponse = z.infer<typeof portfolioSummaryResponseSchema>;

/**
 * One currency of `GET /portfolio/{acct}/ledger`, keyed by currency code plus `BASE` (ibind `ledger`, a real
 * capture). `timestamp` here is epoch **seconds** (1701198108 in the capture), unlike the summary's milliseconds.
 * `endofbundle` appears on the last currency only.
 */
export const ledgerEntrySchema = z.looseObject({
  acctcode: z.string(),
  cashbalance: z.number(),
  cashbalancefxsegment: z.number(),
  commoditymarketvalue: z.number(),
  corporatebondsmarketvalue: z.number(),
  cryptocurrencyvalue: z.number().optional(),
  currency: z.string(),
  dividends: z.number(),
  endofbundle: z.number().int().optional(),
  exchangerate: z.number(),
  funds: z.number(),
  futuremarketvalue: z.number(),
  futureoptionmarketvalue: z.number(),
  futuresonlypnl: z.number(),
  interest: z.number(),
  issueroptionsmarketvalue: z.number(),
  key: z.string(),
  moneyfunds: z.number(),
  netliquidationvalue: z.number(),
  realizedpnl: z.number(),
  secondkey: z.string(),
  sessionid: z.number().int(),
  settledcash: z.number(),
  severity: z.number().int(),
  stockmarketvalue: z.number(),
  stockoptionmarketvalue: z.number(),
  tbillsmarketvalue: z.number(),
  tbondsmarketvalue: z.number(),
  timestamp: z.number().int(),
  unrealizedpnl: z.number(),
  warrantsmarketvalue: z.number(),
});
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;
export const ledgerResponseSchema = z.record(z.string(), ledgerEntrySchema);
export type LedgerResponse = z.infer<typeof ledgerResponseSchema>;

/** Display and increment rules of a contract, as positions and trsrv/secdef carry them (ibind `positions`). */
const incrementRuleSchema = z.looseObject({ lowerEdge: z.number(), increment: z.number() });
const displayRuleSchema = z.looseObject({
  magnification: z.number().int(),
  displayRuleStep: z.array(
    z.looseObject({ decimalDigits: z.number().int(), lowerEdge: z.number(), wholeDigits: z.number().int() }),
  ),
});

/**
 * Contract fields shared by a position and a `trsrv/secdef` entry (ibind `positions`). `strike` is a string
 * (`"0"`) while `multiplier` is a number (`0.0`), as in the capture.
 */
export const contractFieldsSchema = z.looseObject({
  conid: conidSchema,
  currency: z.string(),
  assetClass: z.string(),
  name: z.string().nullable(),
  ticker: z.string().nullable(),
  fullName: z.string().nullable(),
  listingExchange: z.string().nullable(),
  allExchanges: z.string().nullable(),
  countryCode: z.string().nullable(),
  chineseName: z.string().nullable(),
  expiry: z.string().nullable(),
  lastTradingDay: z.string().nullable(),
  putOrCall: z.string().nullable(),
  strike: z.string(),
  multiplier: z.number().nullable(),
  undConid: z.number().int(),
  group: z.string().nullable(),
  sector: z.string().nullable(),
  sectorGroup: z.string().nullable(),
  type: z.string().nullable(),
  hasOptions: z.boolean(),
  isUS: z.boolean(),
  isEventContract: z.boolean(),
  incrementRules: z.array(incrementRuleSchema),
  displayRule: displayRuleSchema,
});

/**
 * One row of `GET /portfolio/{acct}/positions/{page}` (pages of `pageSize`, 100 in the capture) and of
 * `GET /portfolio/{acct}/position/{conid}`, which answers an array too (ibind `positions`; campus "Positions",
 * "Position by Conid").
 */
export const positionSchema = contractFieldsSchema.extend({
  acctId: z.string(),
  contractDesc: z.string(),
  position: z.number(),
  mktPrice: z.number(),
  mktValue: z.number(),
  avgCost: z.number(),
  avgPrice: z.number(),
  realizedPnl: z.number(),
  unrealizedPnl: z.number(),
  model: z.string(),
  time: z.number().int(),
  pageSize: z.number().int(),
  conExchMap: z.array(z.unknown()),
  exchs: z.unknown().nullable(),
  exerciseStyle: z.string().nullable(),
});
export type Position = z.infer<typeof positionSchema>;
export const positionsResponseSchema = z.array(positionSchema);
export const positionByConidResponseSchema = z.array(positionSchema);

/**
 * `GET /iserver/account/pnl/partitioned`: `{"upnl":{"<acct>.Core":{…}}}` (openapi `PnlPartitionedResponse`,
 * `…UpnlU1234567Core`): `rowType` (1 for an individual account), daily P&L `dpl`, net liquidity `nl`, unrealized
 * `upl`, excess liquidity `el`, market value `mv`; `uel` appears in the WebSocket `spl` sample (research §6).
 * The openapi document types them as integers; IBKR's WebSocket sample sends decimals (`-57520.0`), so numbers.
 */
export const pnlRowSchema = z.looseObject({
  rowType: z.number().int(),
  dpl: z.number(),
  nl: z.number(),
  upl: z.number(),
  el: z.number().optional(),
  uel: z.number().optional(),
  mv: z.number(),
});
export type PnlRow = z.infer<typeof pnlRowSchema>;
export const pnlPartitionedResponseSchema = z.looseObject({ upnl: z.record(z.string(), pnlRowSchema) });
export type PnlPartitionedResponse = z.infer<typeof pnlPartitionedResponseSchema>;

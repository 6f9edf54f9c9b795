/**
 * @module cpapi/wire/market
 * Contracts and market data: trsrv/stocks, trsrv/secdef, iserver/secdef/search and /info,
 * iserver/contract/{conid}/info, the snapshot with IBKR's numeric field codes, history bars and unsubscribe
 * (sources: see ./common.ts).
 */
import { z } from 'zod';
import { contractFieldsSchema } from './accounts.js';
import { conidSchema } from './common.js';

/** `GET /trsrv/stocks?symbols=…`: symbol → companies → listings (ibind `stocks`, a real capture). */
export const trsrvStocksResponseSchema = z.record(
  z.string(),
  z.array(
    z.looseObject({
      name: z.string(),
      chineseName: z.string().nullable(),
      assetClass: z.string(),
      contracts: z.array(z.looseObject({ conid: conidSchema, exchange: z.string(), isUS: z.boolean() })),
    }),
  ),
);
export type TrsrvStocksResponse = z.infer<typeof trsrvStocksResponseSchema>;

/**
 * `GET /trsrv/secdef?conids=…`: `{"secdef":[…]}`, each entry the contract fields a position carries (campus
 * "Security Definition by Contract ID"; field names and types as in ibind's `positions` capture).
 */
export const trsrvSecdefResponseSchema = z.looseObject({ secdef: z.array(contractFieldsSchema) });
export type TrsrvSecdefResponse = z.infer<typeof trsrvSecdefResponseSchema>;

/** `POST /iserver/secdef/search` body (openapi `IserverSecdefSearchPostRequest`); `symbol` is the only required key. */
export const secdefSearchBodySchema = z.looseObject({
  symbol: z.string(),
  secType: z.enum(['STK', 'IND', 'BOND']).optional(),
  name: z.boolean().optional(),
  more: z.boolean().optional(),
  fund: z.boolean().optional(),
  fundFamilyConidEx: z.string().optional(),
  pattern: z.boolean().optional(),
  referrer: z.string().optional(),
});
export type SecdefSearchBody = z.infer<typeof secdefSearchBodySchema>;

/**
 * One search hit (openapi `SecdefSearchResponseInner`). Here `conid` is a **string**; `restricted`, `fop`, `opt`,
 * `war` may be null; `opt`/`fop`/`war` are semicolon-separated expiry months; `sections` lists the tradable
 * security types (`months` and `exchange` semicolon-separated).
 */
export const secdefSearchItemSchema = z.looseObject({
  conid: z.string(),
  companyHeader: z.string(),
  companyName: z.string(),
  symbol: z.string(),
  description: z.string().nullable(),
  restricted: z.boolean().nullable().optional(),
  fop: z.string().nullable().optional(),
  opt: z.string().nullable().optional(),
  war: z.string().nullable().optional(),
  sections: z.array(
    z.looseObject({ secType: z.string(), months: z.string().optional(), exchange: z.string().optional() }),
  ),
  bondid: z.number().int().optional(),
  issuers: z.array(z.looseObject({ id: z.string(), name: z.string() })).optional(),
});
export type SecdefSearchItem = z.infer<typeof secdefSearchItemSchema>;
export const secdefSearchResponseSchema = z.array(secdefSearchItemSchema);

/**
 * One entry of `GET /iserver/secdef/info?conid=&sectype=&month=&strike=&right=` (openapi `SecDefInfoResponse`;
 * campus answers an array). `conid` is a number; `maturityDate` and `priceRendering` may be null.
 */
export const secdefInfoItemSchema = z.looseObject({
  conid: conidSchema,
  ticker: z.string(),
  secType: z.string(),
  listingExchange: z.string(),
  exchange: z.string(),
  companyName: z.string(),
  currency: z.string(),
  validExchanges: z.string(),
  priceRendering: z.unknown().nullable().optional(),
  maturityDate: z.string().nullable().optional(),
  right: z.enum(['C', 'P']).optional(),
  strike: z.number().optional(),
});
export type SecdefInfoItem = z.infer<typeof secdefInfoItemSchema>;
export const secdefInfoResponseSchema = z.array(secdefInfoItemSchema);

/**
 * `GET /iserver/contract/{conid}/info`, snake_case as IBKR sends it (openapi `ContractInfo`): `con_id` number,
 * `r_t_h` boolean, `multiplier` a string or null.
 */
export const contractInfoResponseSchema = z.looseObject({
  con_id: conidSchema,
  symbol: z.string(),
  company_name: z.string(),
  instrument_type: z.string(),
  currency: z.string(),
  exchange: z.string(),
  valid_exchanges: z.string(),
  local_symbol: z.string(),
  trading_class: z.string().optional(),
  cfi_code: z.string().nullable().optional(),
  cusip: z.string().nullable().optional(),
  expiry_full: z.string().nullable().optional(),
  maturity_date: z.string().nullable().optional(),
  industry: z.string().nullable().optional(),
  category: z.string().nullable().optional(),
  allow_sell_long: z.boolean().optional(),
  is_zero_commission_security: z.boolean().optional(),
  contract_clarification_type: z.string().nullable().optional(),
  classifier: z.string().nullable().optional(),
  text: z.string().nullable().optional(),
  underlying_con_id: z.number().int().optional(),
  r_t_h: z.boolean().optional(),
  multiplier: z.string().nullable().optional(),
  underlying_issuer: z.string().nullable().optional(),
  contract_month: z.string().nullable().optional(),
  smart_available: z.boolean().optional(),
});
export type ContractInfoResponse = z.infer<typeof contractInfoResponseSchema>;

/**
 * The snapshot field codes the face supports, code → meaning (campus "Market Data Fields", as ibind's
 * `ibkr_definitions.py` quotes it). Values are strings on the wire; 31 may carry a `C` (previous close) or `H`
 * (halted) prefix; 85/88 are divided by 100 for US stocks; 6509 is availability (first letter R realtime,
 * D delayed, Z frozen, Y frozen delayed, N not subscribed; second P snapshot, p consolidated; third B book).
 */
export const SNAPSHOT_FIELDS = {
  '31': 'Last price',
  '55': 'Symbol',
  '70': 'High (current day)',
  '71': 'Low (current day)',
  '82': 'Change since the previous close',
  '83': 'Change % since the previous close',
  '84': 'Bid price',
  '85': 'Ask size',
  '86': 'Ask price',
  '87': 'Volume (formatted with K/M)',
  '88': 'Bid size',
  '6008': 'Conid',
  '6070': 'Security type',
  '6119': 'Server id marker',
  '6509': 'Market data availability',
  '7059': 'Last size',
  '7295': 'Open (today)',
  '7296': 'Close (today)',
  '7741': 'Prior close',
  '7762': 'Volume (full precision)',
} as const;
export type SnapshotFieldCode = keyof typeof SNAPSHOT_FIELDS;

/** `GET /iserver/marketdata/snapshot?conids=265598,8314&fields=31,84,86`: comma-separated lists (campus "Snapshot"). */
export const snapshotQuerySchema = z.looseObject({
  conids: z.string().regex(/^\d+(,\d+)*$/),
  fields: z
    .string()
    .regex(/^\d+(,\d+)*$/)
    .optional(),
});
export type SnapshotQuery = z.infer<typeof snapshotQuerySchema>;

/**
 * Field values by code. Campus's example and the issue say strings; research §6's WebSocket sample carries
 * `"83":0.04` as a number, so unknown codes (and 83, 6008, whose type no capture here fixes) accept either.
 */
const fieldValue = z.union([z.string(), z.number()]);
const stringFields = Object.fromEntries(
  Object.keys(SNAPSHOT_FIELDS)
    .filter((code) => code !== '83' && code !== '6008')
    .map((code) => [code, z.string().optional()]),
);

/**
 * One snapshot row (campus example; research §5): `conid` number, `conidEx` string, `_updated` epoch ms,
 * `server_id` string, plus the requested fields as strings. The first request for a conid answers only the
 * metadata keys (the "pre-flight", ibind issues 107, 65).
 */
export const snapshotItemSchema = z
  .object({
    conid: conidSchema,
    conidEx: z.string(),
    _updated: z.number().int(),
    server_id: z.string().optional(),
    '83': fieldValue.optional(),
    '6008': fieldValue.optional(),
    ...stringFields,
  })
  .catchall(z.unknown());
export type SnapshotItem = z.infer<typeof snapshotItemSchema>;
export const snapshotResponseSchema = z.array(snapshotItemSchema);

/** `GET /iserver/marketdata/history?conid=&period=&bar=&outsideRth=&startTime=&exchange=` (campus "Historical Data"). */
export const historyQuerySchema = z.looseObject({
  conid: z.string().regex(/^\d+$/),
  period: z.string(),
  bar: z.string(),
  exchange: z.string().optional(),
  startTime: z.string().optional(),
  outsideRth: z.enum(['true', 'false']).optional(),
});
export type HistoryQuery = z.infer<typeof historyQuerySchema>;

/** One bar: prices and volume as numbers, `t` epoch ms (ibind `history`). */
export const historyBarSchema = z.looseObject({
  o: z.number(),
  h: z.number(),
  l: z.number(),
  c: z.number(),
  v: z.number(),
  t: z.number().int(),
});
export type HistoryBar = z.infer<typeof historyBarSchema>;

/**
 * The history envelope (ibind `history`, real captures): `high`/`low` are `"<price×priceFactor>/<volume>/<minutes>"`
 * strings, `serverId` and `priceDisplayValue` are strings, `mdAvailability` one letter (S, D…), `mktDataDelay`
 * seconds, `startTime` `YYYYMMDD-hh:mm:ss`.
 */
export const historyResponseSchema = z.looseObject({
  serverId: z.string(),
  symbol: z.string(),
  text: z.string(),
  priceFactor: z.number().int(),
  startTime: z.string(),
  high: z.string(),
  low: z.string(),
  timePeriod: z.string(),
  barLength: z.number().int(),
  mdAvailability: z.string(),
  mktDataDelay: z.number().int(),
  outsideRth: z.boolean(),
  volumeFactor: z.number().int(),
  priceDisplayRule: z.number().int(),
  priceDisplayValue: z.string(),
  negativeCapable: z.boolean(),
  messageVersion: z.number().int(),
  data: z.array(historyBarSchema),
  points: z.number().int(),
  travelTime: z.number().int(),
  chartAnnotations: z.string().optional(),
});
export type HistoryResponse = z.infer<typeof historyResponseSchema>;

/** `POST /iserver/marketdata/unsubscribe` body `{conid}` and answer `{success:true}` (openapi). */
export const unsubscribeBodySchema = z.looseObject({ conid: conidSchema });
export type UnsubscribeBody = z.infer<typeof unsubscribeBodySchema>;
export const unsubscribeResponseSchema = z.looseObject({ success: z.boolean() });
export type UnsubscribeResponse = z.infer<typeof unsubscribeResponseSchema>;

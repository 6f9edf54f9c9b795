/**
 * @module cpapi/wire/orders
 * Orders: the place body and its two answers (questions, acknowledgements), reply, suppress and reset, what-if,
 * live orders, order status, modify, cancel and trades (sources: see ./common.ts).
 */
import { z } from 'zod';
import { conidSchema } from './common.js';

/**
 * One order ticket (campus "Place Order"; ibind `_ORDER_REQUEST_MAPPING`). `conid` or `conidex` names the
 * contract; `secType` reads `"<conid>:STK"`; `quantity`, `cashQty` or `fxQty` sizes it. `side` is BUY or SELL;
 * clients are seen sending other casings (`"Buy"`), which IBKR accepts, so it is a plain string here.
 */
export const orderTicketSchema = z.looseObject({
  acctId: z.string().optional(),
  conid: conidSchema.optional(),
  conidex: z.string().optional(),
  secType: z.string().optional(),
  cOID: z.string().optional(),
  parentId: z.string().optional(),
  orderType: z.string(),
  listingExchange: z.string().optional(),
  isSingleGroup: z.boolean().optional(),
  outsideRTH: z.boolean().optional(),
  price: z.number().optional(),
  auxPrice: z.number().optional(),
  side: z.string(),
  ticker: z.string().optional(),
  tif: z.string(),
  trailingAmt: z.number().optional(),
  trailingType: z.string().optional(),
  referrer: z.string().optional(),
  quantity: z.number().optional(),
  cashQty: z.number().optional(),
  fxQty: z.number().optional(),
  useAdaptive: z.boolean().optional(),
  isCcyConv: z.boolean().optional(),
  allocationMethod: z.string().optional(),
  manualIndicator: z.boolean().optional(),
  extOperator: z.string().optional(),
  strategy: z.string().optional(),
  strategyParameters: z.record(z.string(), z.unknown()).optional(),
  isClose: z.boolean().optional(),
});
export type OrderTicket = z.infer<typeof orderTicketSchema>;

/** `POST /iserver/account/{acct}/orders` and `…/orders/whatif` body: `{"orders":[…]}` (campus "Place Order"). */
export const placeOrdersBodySchema = z.looseObject({ orders: z.array(orderTicketSchema).min(1) });
export type PlaceOrdersBody = z.infer<typeof placeOrdersBodySchema>;

/** `POST /iserver/account/{acct}/order/{orderId}` (modify) takes one ticket, not wrapped (research §4). */
export const modifyOrderBodySchema = orderTicketSchema;
export type ModifyOrderBody = z.infer<typeof modifyOrderBodySchema>;

/**
 * A question (campus "Place Order" and "Place Order Reply Confirmation"; openapi `OrderReplyMessage`): `id` is the
 * replyId UUID, `message` and `messageIds` index-aligned, `isSuppressed` always false.
 */
export const orderQuestionSchema = z.looseObject({
  id: z.string(),
  message: z.array(z.string()),
  isSuppressed: z.boolean(),
  messageIds: z.array(z.string()),
});
export type OrderQuestion = z.infer<typeof orderQuestionSchema>;

/** An acknowledgement: `order_id` a **string** here, `encrypt_message` `"1"` (campus "Place Order"). */
export const orderAckSchema = z.looseObject({
  order_id: z.string(),
  order_status: z.string(),
  encrypt_message: z.string(),
});
export type OrderAck = z.infer<typeof orderAckSchema>;

/** What place and reply answer with 200: questions or acknowledgements (an error is `errorBodySchema`). */
export const placeOrdersResponseSchema = z.union([z.array(orderQuestionSchema), z.array(orderAckSchema)]);
export type PlaceOrdersResponse = z.infer<typeof placeOrdersResponseSchema>;

/** Modify answers questions, or acknowledgements that carry `local_order_id` instead of `encrypt_message` (campus). */
export const modifyAckSchema = z.looseObject({
  order_id: z.string(),
  order_status: z.string(),
  local_order_id: z.string().optional(),
  encrypt_message: z.string().optional(),
});
export const modifyOrderResponseSchema = z.union([z.array(orderQuestionSchema), z.array(modifyAckSchema)]);

/** `POST /iserver/reply/{replyId}` body (campus "Place Order Reply Confirmation"). */
export const replyBodySchema = z.looseObject({ confirmed: z.boolean() });
export type ReplyBody = z.infer<typeof replyBodySchema>;

/** `POST /iserver/questions/suppress` body and its answer `{"status":"submitted"}` (campus "Suppress Messages"). */
export const suppressBodySchema = z.looseObject({ messageIds: z.array(z.string()).min(1) });
export type SuppressBody = z.infer<typeof suppressBodySchema>;
export const suppressResponseSchema = z.looseObject({ status: z.string() });
/** `POST /iserver/questions/suppress/reset` answers the same shape (campus "Reset Suppressed Messages"). */
export const suppressResetResponseSchema = suppressResponseSchema;

/** A before/after triple of the what-if answer, amounts as formatted strings (openapi `OrderPreview*`). */
const previewTriple = z.looseObject({ current: z.string(), change: z.string(), after: z.string() });

/** `POST /iserver/account/{acct}/orders/whatif` (openapi `OrderPreview`; campus "Preview Order / WhatIf"). */
export const whatIfResponseSchema = z.looseObject({
  amount: z.looseObject({ amount: z.string(), commission: z.string(), total: z.string() }),
  equity: previewTriple,
  initial: previewTriple,
  maintenance: previewTriple,
  position: previewTriple,
  warn: z.string().nullable(),
  error: z.string().nullable(),
});
export type WhatIfResponse = z.infer<typeof whatIfResponseSchema>;

/** `GET /iserver/account/orders?filters=&force=` (campus "Live Orders"): filters comma-separated, force `true`. */
export const liveOrdersQuerySchema = z.looseObject({
  filters: z.string().optional(),
  force: z.enum(['true', 'false']).optional(),
  accountId: z.string().optional(),
});
export type LiveOrdersQuery = z.infer<typeof liveOrdersQuerySchema>;

/**
 * One live order, with IBKR's mix of types (ibind `live_orders`, a real capture): `orderId` and `conid` numbers,
 * `conidex` and `price` strings, quantities numbers, `supportsTaxOpt` the string `"1"`, `lastExecutionTime`
 * `YYMMDDhhmmss` and `lastExecutionTime_r` epoch ms. `orderType` is the display name (`Limit`), `origOrderType`
 * the upper-case one (`LIMIT`).
 */
export const liveOrderSchema = z.looseObject({
  acct: z.string(),
  account: z.string(),
  conid: conidSchema,
  conidex: z.string(),
  orderId: z.number().int(),
  cashCcy: z.string(),
  sizeAndFills: z.string(),
  orderDesc: z.string(),
  description1: z.string(),
  ticker: z.string(),
  secType: z.string(),
  listingExchange: z.string(),
  remainingQuantity: z.number(),
  filledQuantity: z.number(),
  totalSize: z.number(),
  companyName: z.string(),
  status: z.string(),
  order_ccp_status: z.string(),
  origOrderType: z.string(),
  supportsTaxOpt: z.string(),
  lastExecutionTime: z.string(),
  lastExecutionTime_r: z.number().int(),
  orderType: z.string(),
  bgColor: z.string(),
  fgColor: z.string(),
  order_ref: z.string().optional(),
  timeInForce: z.string(),
  side: z.string(),
  price: z.string().optional(),
  auxPrice: z.string().optional(),
  avgPrice: z.string().optional(),
  outsideRTH: z.boolean().optional(),
});
export type LiveOrder = z.infer<typeof liveOrderSchema>;
export const liveOrdersResponseSchema = z.looseObject({
  orders: z.array(liveOrderSchema),
  snapshot: z.boolean(),
});
export type LiveOrdersResponse = z.infer<typeof liveOrdersResponseSchema>;

/**
 * `GET /iserver/account/order/status/{orderId}`, snake_case (ibind `order_status`, real captures): `order_id` and
 * `conid` numbers; sizes and `cum_fill` strings; `side` one letter (`B`/`S`); `order_ccp_status` a code string.
 * The openapi document types `conid` as a string; the captures send a number, which the face follows.
 */
export const orderStatusResponseSchema = z.looseObject({
  order_id: z.number().int(),
  conid: conidSchema,
  conidex: z.string(),
  symbol: z.string(),
  side: z.string(),
  contract_description_1: z.string(),
  listing_exchange: z.string(),
  company_name: z.string(),
  size: z.string(),
  total_size: z.string(),
  currency: z.string(),
  account: z.string(),
  order_type: z.string(),
  cum_fill: z.string(),
  order_status: z.string(),
  order_ccp_status: z.string(),
  order_status_description: z.string(),
  tif: z.string(),
  fg_color: z.string(),
  bg_color: z.string(),
  order_not_editable: z.boolean(),
  editable_fields: z.string(),
  cannot_cancel_order: z.boolean(),
  deactivate_order: z.boolean(),
  sec_type: z.string(),
  available_chart_periods: z.string(),
  order_description: z.string(),
  order_description_with_contract: z.string(),
  alert_active: z.number().int(),
  child_order_type: z.string(),
  order_clearing_account: z.string(),
  size_and_fills: z.string(),
  exit_strategy_display_price: z.string(),
  exit_strategy_chart_description: z.string(),
  exit_strategy_tool_availability: z.string(),
  allowed_duplicate_opposite: z.boolean(),
  order_time: z.string(),
  outside_rth: z.boolean().optional(),
  limit_price: z.string().optional(),
  stop_price: z.string().optional(),
  average_price: z.string().optional(),
  option_acct: z.string().optional(),
  request_id: z.string().optional(),
  server_id: z.string().optional(),
  sub_type: z.string().nullable().optional(),
  use_price_mgmt_algo: z.boolean().optional(),
});
export type OrderStatusResponse = z.infer<typeof orderStatusResponseSchema>;

/**
 * `DELETE /iserver/account/{acct}/order/{orderId}` (`-1` cancels all): `{msg:"Request was submitted", order_id,
 * conid, account}` (openapi `OrderCancelSuccess`). The openapi document types `order_id` and `conid` as strings; no
 * capture here settles it, so both spellings validate and the face sends the openapi's strings.
 */
export const cancelOrderResponseSchema = z.looseObject({
  msg: z.string(),
  order_id: z.union([z.string(), z.number().int()]),
  conid: z.union([z.string(), z.number().int()]),
  account: z.string(),
});
export type CancelOrderResponse = z.infer<typeof cancelOrderResponseSchema>;

/**
 * One execution of `GET /iserver/account/trades?days=` (openapi `TradesResponseInner`): `size` and `net_amount`
 * numbers; `price` and `commission` strings; `conid` a string; `trade_time` `YYYYMMDD-hh:mm:ss` (UTC) and
 * `trade_time_r` epoch ms.
 */
export const tradeSchema = z.looseObject({
  execution_id: z.string(),
  symbol: z.string(),
  supports_tax_opt: z.string().optional(),
  side: z.string(),
  order_description: z.string(),
  trade_time: z.string(),
  trade_time_r: z.number().int(),
  size: z.number(),
  price: z.string(),
  order_ref: z.string().optional(),
  submitter: z.string().optional(),
  exchange: z.string(),
  commission: z.string(),
  net_amount: z.number(),
  account: z.string(),
  accountCode: z.string().optional(),
  company_name: z.string(),
  contract_description_1: z.string(),
  sec_type: z.string(),
  listing_exchange: z.string().optional(),
  conid: z.string(),
  conidEx: z.string().optional(),
  clearing_id: z.string().optional(),
  clearing_name: z.string().optional(),
  liquidation_trade: z.string().optional(),
  is_event_trading: z.string().optional(),
});
export type Trade = z.infer<typeof tradeSchema>;
export const tradesResponseSchema = z.array(tradeSchema);

/**
 * @module cpapi/orders-wire
 * Orders between IBKR's words and Gatehouse's: an IBKR order ticket read as a Gatehouse order request, and a
 * Gatehouse order shown as IBKR shows one (live orders, order status, acknowledgements), an execution as a trade.
 *
 * IBKR's order types map onto Gatehouse's four (campus "Place Order": LMT, MKT, STP, STOP_LIMIT; MIDPRICE, TRAIL
 * and TRAILLMT have no Gatehouse counterpart and are refused by name). For a STP order IBKR's `price` is the stop
 * price; for STOP_LIMIT `price` is the limit and `auxPrice` the stop (campus "Order Types"; ibind
 * `_ORDER_REQUEST_MAPPING`). IBKR's time in force DAY, GTC and IOC map one to one; OPG and PAX are refused.
 */
import type { OrderView } from '@gatehouse/protocol';
import { orderRequestSchema } from '@gatehouse/protocol';
import { randomToken } from '../core/index.js';
import { findInstrument } from '../instruments/index.js';
import type { ExecutionsTable } from '../store/index.js';
import type { OrderRequest } from '../trading/index.js';
import { secType } from './contracts.js';
import { IbkrError } from './kit.js';
import type { LiveOrder, OrderStatusResponse, OrderTicket, Trade } from './wire/index.js';

const TYPES: Record<string, OrderRequest['type']> = {
  LMT: 'LMT',
  LIMIT: 'LMT',
  MKT: 'MKT',
  MARKET: 'MKT',
  STP: 'STP',
  STOP: 'STP',
  STOP_LIMIT: 'STP_LMT',
  STP_LMT: 'STP_LMT',
};
const TIFS = new Set(['DAY', 'GTC', 'IOC']);

/** IBKR's display name (`orderType`) and upper-case name (`origOrderType`) of each Gatehouse order type. */
const TYPE_NAMES: Record<OrderRequest['type'], [string, string]> = {
  LMT: ['Limit', 'LIMIT'],
  MKT: ['Market', 'MARKET'],
  STP: ['Stop', 'STOP'],
  STP_LMT: ['Stop Limit', 'STOP_LIMIT'],
};

/** The conid an IBKR ticket names (`conid`, or `conidex` as `265598` or `265598@SMART`). */
export function ticketConid(ticket: OrderTicket): number | undefined {
  if (ticket.conid !== undefined) return ticket.conid;
  const lead = ticket.conidex?.split('@')[0] ?? '';
  const n = /^[1-9]\d{0,14}$/.test(lead) ? Number(lead) : Number.NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Reads an IBKR ticket as a Gatehouse order request; what Gatehouse cannot serve is IBKR's 400, naming it. */
export function ticketToOrder(ticket: OrderTicket, accountId: string): OrderRequest {
  if (ticket.acctId !== undefined && ticket.acctId !== accountId)
    throw new IbkrError(400, `Bad Request: accountId is not valid: ${ticket.acctId}`);
  const instrumentId = ticketConid(ticket);
  if (instrumentId === undefined) throw new IbkrError(400, 'Bad Request: conid or conidex is required');
  const type = TYPES[ticket.orderType.toUpperCase()];
  if (type === undefined)
    throw new IbkrError(400, `Bad Request: order type ${ticket.orderType} is not served by Gatehouse`);
  const tif = ticket.tif.toUpperCase();
  if (!TIFS.has(tif)) throw new IbkrError(400, `Bad Request: tif ${ticket.tif} is not served by Gatehouse`);
  if (ticket.quantity === undefined)
    throw new IbkrError(400, 'Bad Request: quantity is required (cashQty and fxQty are not served)');
  const side = ticket.side.toUpperCase();
  const prices: { limitPrice?: number; stopPrice?: number } = {};
  if (type === 'LMT' && ticket.price !== undefined) prices.limitPrice = ticket.price;
  if (type === 'STP') {
    const stop = ticket.price ?? ticket.auxPrice;
    if (stop !== undefined) prices.stopPrice = stop;
  }
  if (type === 'STP_LMT') {
    if (ticket.price !== undefined) prices.limitPrice = ticket.price;
    if (ticket.auxPrice !== undefined) prices.stopPrice = ticket.auxPrice;
  }
  const parsed = orderRequestSchema.safeParse({
    clientOrderId: ticket.cOID ?? `cpapi-${randomToken(12)}`,
    instrumentId,
    side,
    type,
    quantity: ticket.quantity,
    tif,
    ...prices,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path[0] === 'clientOrderId' ? 'cOID' : String(issue?.path[0] ?? 'order');
    throw new IbkrError(400, `Bad Request: ${field}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** IBKR's status of a Gatehouse order (campus "Order Status Values"). An untriggered stop is `PreSubmitted`. */
export function ibkrStatus(order: OrderView): string {
  if (order.status === 'filled') return 'Filled';
  if (order.status === 'cancelled' || order.status === 'expired') return 'Cancelled';
  return (order.type === 'STP' || order.type === 'STP_LMT') && !order.triggered
    ? 'PreSubmitted'
    : 'Submitted';
}

/** IBKR's `YYMMDDhhmmss` (UTC) of an instant. */
export function ibkrCompactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(2, 14);
}

const price = (n: number | null) => (n === null ? undefined : String(n));

function describe(order: OrderView): string {
  const [name] = TYPE_NAMES[order.type];
  const at = order.limitPrice ?? order.stopPrice;
  const side = order.side === 'BUY' ? 'Buy' : 'Sell';
  return `${side} ${order.quantity} ${name}${at === null ? '' : ` ${at}`}, ${order.tif === 'DAY' ? 'Day' : order.tif}`;
}

/** One row of `iserver/account/orders` (the shape of ibind's real `live_orders` capture). */
export function liveOrder(order: OrderView, number: number): LiveOrder {
  const instrument = findInstrument(order.instrumentId);
  const updated = Date.parse(order.updatedAt);
  const [display, upper] = TYPE_NAMES[order.type];
  const status = ibkrStatus(order);
  return {
    acct: order.accountId,
    account: order.accountId,
    conid: order.instrumentId,
    conidex: String(order.instrumentId),
    orderId: number,
    cashCcy: instrument?.currency ?? 'USD',
    sizeAndFills: `${order.filledQuantity}/${order.quantity}`,
    orderDesc: describe(order),
    description1: instrument?.symbol ?? String(order.instrumentId),
    ticker: instrument?.symbol ?? String(order.instrumentId),
    secType: instrument === undefined ? 'STK' : secType(instrument),
    listingExchange: instrument?.exchange ?? '',
    remainingQuantity: order.status === 'working' ? order.quantity - order.filledQuantity : 0,
    filledQuantity: order.filledQuantity,
    totalSize: order.quantity,
    companyName: instrument?.name ?? '',
    status,
    order_ccp_status: status,
    origOrderType: upper,
    supportsTaxOpt: '1',
    lastExecutionTime: ibkrCompactTime(updated),
    lastExecutionTime_r: updated,
    orderType: display,
    bgColor: '#000000',
    fgColor: '#00F000',
    order_ref: order.clientOrderId,
    timeInForce: order.tif === 'DAY' ? 'CLOSE' : order.tif,
    side: order.side,
    ...(price(order.limitPrice) === undefined ? {} : { price: price(order.limitPrice) }),
    ...(price(order.stopPrice) === undefined ? {} : { auxPrice: price(order.stopPrice) }),
    ...(price(order.avgFillPrice) === undefined ? {} : { avgPrice: price(order.avgFillPrice) }),
    outsideRTH: false,
  } as LiveOrder;
}

/** `iserver/account/order/status/{orderId}` (snake_case, as ibind's real `order_status` capture). */
export function orderStatus(order: OrderView, number: number): OrderStatusResponse {
  const instrument = findInstrument(order.instrumentId);
  const symbol = instrument?.symbol ?? String(order.instrumentId);
  const status = ibkrStatus(order);
  const [, upper] = TYPE_NAMES[order.type];
  const working = order.status === 'working';
  return {
    order_id: number,
    conid: order.instrumentId,
    conidex: String(order.instrumentId),
    symbol,
    side: order.side === 'BUY' ? 'B' : 'S',
    contract_description_1: symbol,
    listing_exchange: instrument?.exchange ?? '',
    company_name: instrument?.name ?? '',
    size: String(order.quantity - order.filledQuantity),
    total_size: String(order.quantity),
    currency: instrument?.currency ?? 'USD',
    account: order.accountId,
    order_type: upper,
    cum_fill: String(order.filledQuantity),
    order_status: status,
    order_ccp_status: status,
    order_status_description: working ? 'Order Submitted' : `Order ${status}`,
    tif: order.tif,
    fg_color: '#FFFFFF',
    bg_color: '#000000',
    order_not_editable: !working,
    editable_fields: working ? 'qty,price,auxPrice' : '',
    cannot_cancel_order: !working,
    deactivate_order: false,
    sec_type: instrument === undefined ? 'STK' : secType(instrument),
    available_chart_periods: '#R|1',
    order_description: describe(order),
    order_description_with_contract: `${describe(order)} ${symbol}`,
    alert_active: 1,
    child_order_type: '0',
    order_clearing_account: order.accountId,
    size_and_fills: `${order.filledQuantity}/${order.quantity}`,
    exit_strategy_display_price: String(order.limitPrice ?? order.stopPrice ?? ''),
    exit_strategy_chart_description: describe(order),
    exit_strategy_tool_availability: '1',
    allowed_duplicate_opposite: true,
    order_time: ibkrCompactTime(Date.parse(order.createdAt)),
    outside_rth: false,
    ...(order.limitPrice === null ? {} : { limit_price: String(order.limitPrice) }),
    ...(order.stopPrice === null ? {} : { stop_price: String(order.stopPrice) }),
    ...(order.avgFillPrice === null ? {} : { average_price: String(order.avgFillPrice) }),
  };
}

/** One execution as `iserver/account/trades` shows it (openapi `TradesResponseInner`). */
export function trade(execution: Omit<ExecutionsTable, 'order_id'>): Trade {
  const instrument = findInstrument(execution.instrument_id);
  const symbol = instrument?.symbol ?? String(execution.instrument_id);
  const multiplier = instrument?.multiplier ?? 1;
  const signed = execution.side === 'BUY' ? -1 : 1;
  const at = new Date(execution.created_at).toISOString();
  return {
    execution_id: execution.id,
    symbol,
    supports_tax_opt: '1',
    side: execution.side === 'BUY' ? 'B' : 'S',
    order_description: `${execution.side === 'BUY' ? 'Bot' : 'Sold'} ${execution.quantity} @ ${execution.price} on ${instrument?.exchange ?? ''}`,
    trade_time: `${at.slice(0, 10).replace(/-/g, '')}-${at.slice(11, 19)}`,
    trade_time_r: execution.created_at,
    size: execution.quantity,
    price: String(execution.price),
    exchange: instrument?.exchange ?? '',
    commission: String(execution.commission),
    net_amount: signed * execution.quantity * execution.price * multiplier,
    account: execution.account_id,
    accountCode: execution.account_id,
    company_name: instrument?.name ?? '',
    contract_description_1: symbol,
    sec_type: instrument === undefined ? 'STK' : secType(instrument),
    listing_exchange: instrument?.exchange ?? '',
    conid: String(execution.instrument_id),
    conidEx: String(execution.instrument_id),
  };
}

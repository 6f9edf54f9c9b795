/**
 * @module cpapi/stream/frames
 * The content of the WebSocket's account frames in IBKR's words: `act` (the `/iserver/accounts` content, research
 * §6), `sts` (the auth status plus `established` and `username`) and an execution as `str` carries it. A live order
 * (`sor`) is `cpapi/orders-wire`'s, a P&L row (`spl`) `cpapi/portfolio`'s: the same as the REST answers.
 */
import { accountsFor } from '../../access/index.js';
import { findInstrument } from '../../instruments/index.js';
import type { Principal } from '../../sessions/index.js';
import type { OrderView } from '../../trading/index.js';
import { hasBridge } from '../kit.js';
import { trade } from '../orders-wire.js';
import { iserverAccounts } from '../portfolio.js';
import { authStatus, type FaceIdentity, type HeldSession } from '../status.js';
import type { IserverAccountsResponse, Trade } from '../wire/index.js';

/** The accounts the held session sees, as IBKR lists them (the first is the selected one). */
export function viewableAccountIds(principal: Principal): string[] {
  return accountsFor(principal, 'view').map((a) => a.id);
}

/** `act`: the `/iserver/accounts` content IBKR pushes on connect (research §6), the first account selected. */
export function accountsFrame(principal: Principal, face: FaceIdentity): IserverAccountsResponse {
  return iserverAccounts(principal, face, viewableAccountIds(principal)[0] ?? '');
}

/** `sts` arguments: the auth status (`cpapi/status`) with IBKR's extra `established`, server and user names. */
export function statusArgs(held: HeldSession, face: FaceIdentity, username: string) {
  const status = authStatus(held, face);
  return {
    authenticated: status.authenticated,
    competing: status.competing,
    connected: status.connected,
    established: hasBridge(held),
    message: status.message ?? '',
    fail: status.fail ?? '',
    serverName: face.serverInfo.serverName,
    serverVersion: face.serverInfo.serverVersion,
    username,
  };
}

/** What a fill event carries (trading/fills). */
export interface FillData {
  quantity: number;
  price: number;
  commission: number;
}

/**
 * One `str` item: an execution as `/iserver/account/trades` lists it (`cpapi/orders-wire`). Gatehouse's fill events
 * do not carry the execution row's id, so `execution_id` is the account's event number (`<acct>.<seq>`), unique per
 * account.
 */
export function tradeOf(order: OrderView, fill: FillData, seq: number, at: number): Trade {
  const instrument = findInstrument(order.instrumentId);
  return {
    ...trade({
      id: `${order.accountId}.${seq}`,
      account_id: order.accountId,
      instrument_id: order.instrumentId,
      side: order.side,
      quantity: fill.quantity,
      price: fill.price,
      commission: fill.commission,
      currency: instrument?.currency ?? 'USD',
      created_at: at,
    }),
    order_ref: order.clientOrderId,
  };
}

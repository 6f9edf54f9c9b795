/**
 * The SDK example bot for drills (`gatehouse drill … -- npx tsx examples/drill-bot/bot.ts`): what a bot on
 * @gatehouse/sdk does to pass every shipped scenario of the failure sandbox (docs/sandbox.md).
 *
 * - Its identity comes from the drill's environment (GATEHOUSE_URL, GATEHOUSE_ISSUER, GATEHOUSE_CLIENT_ID,
 *   GATEHOUSE_CLIENT_KEY_FILE, GATEHOUSE_ACCOUNT, GATEHOUSE_TOKEN_FILE); its tokens and DPoP key are kept in the
 *   token file (`FileTokenStore`), so a restart is the same session.
 * - `SessionSupervisor` keeps the session: tokens refreshed ahead of expiry and single-flight, a refresh whose
 *   answer was lost sent again from the same key, the stream resumed after its last event on every reconnect, the
 *   session's dead-man switch armed and re-armed.
 * - It trades small: one resting 1-share limit buy, far below the market, with its own clientOrderId per intent,
 *   cancelled and replaced every cycle. It trades only while `ready`, on live data (a confirmation about delayed or
 *   no market data is not answered: that trade is skipped), and never sends a placement twice with a new id: an
 *   outcome it could not learn is sent again with the SAME clientOrderId (the gateway makes at most one order).
 * - After a reconnect it reconciles: a cancel that never took effect (`missedCancel`) is sent again.
 * - When another login takes trading over it pauses; in a drill (GATEHOUSE_DRILL=1) the other login is the
 *   scenario's scripted phone, so it takes trading back after GATEHOUSE_DRILL_RETAKE_MS (default 3 s). A bot that
 *   shares trading with a person asks them first instead.
 * - On SIGTERM it cancels its own working orders, disarms its dead-man switch, gives trading up and exits 0; if it
 *   cannot cancel (a step-up pending, the gateway unreachable), it leaves the switch armed, which cancels them at its
 *   deadline.
 */
import { readFile } from 'node:fs/promises';
import {
  type Fetch,
  GatehouseApiError,
  importPrivateJwk,
  type OrderRequest,
  PersonalClientAuth,
  type PlaceOrderResult,
  SessionSupervisor,
} from '@gatehouse/sdk';
import { FileTokenStore } from '@gatehouse/sdk/node';
import WebSocket from 'ws';

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    process.stderr.write(`drill-bot: ${name} is not set (run me under \`gatehouse drill … -- <command>\`)\n`);
    process.exit(2);
  }
  return value;
}

const AAPL = 265598;
const account = env('GATEHOUSE_ACCOUNT');
const intervalMs = Number(process.env.GATEHOUSE_BOT_INTERVAL_MS ?? 1_000);
const retakeMs = Number(process.env.GATEHOUSE_DRILL_RETAKE_MS ?? 3_000);
const drill = process.env.GATEHOUSE_DRILL === '1';
const log = (message: string) => process.stderr.write(`[drill-bot] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Never sends an access token the gateway already refused as invalid. The supervisor re-arms its dead-man switch on
 * a timer with the token it holds; after a token expired early and its refresh's answer was lost, that token is
 * dead until a refresh succeeds. Such a call fails here as on the network: the supervisor is `degraded`
 * (unreachable) until the refresh brings a new token.
 */
const refused = new Set<string>();
const guardedFetch: Fetch = async (input, init) => {
  const authorization = new Headers(init?.headers).get('authorization') ?? '';
  const token = authorization.startsWith('DPoP ') ? authorization.slice(5) : undefined;
  if (token !== undefined && refused.has(token))
    throw new TypeError('not sent: the gateway refused this access token; waiting for a new one');
  const response = await fetch(input, init);
  if (token !== undefined && response.status === 401) {
    const body = (await response
      .clone()
      .json()
      .catch(() => ({}))) as { error?: { code?: string } };
    if (body.error?.code === 'INVALID_TOKEN') refused.add(token);
  }
  return response;
};

const store = new FileTokenStore(env('GATEHOUSE_TOKEN_FILE'));
const run = Date.now().toString(36);
const prefix = 'drill-bot-';
const bot = new SessionSupervisor({
  baseUrl: env('GATEHOUSE_URL'),
  auth: new PersonalClientAuth({
    clientId: env('GATEHOUSE_CLIENT_ID'),
    clientKey: await importPrivateJwk(JSON.parse(await readFile(env('GATEHOUSE_CLIENT_KEY_FILE'), 'utf8'))),
    issuer: env('GATEHOUSE_ISSUER'),
  }),
  dpopKey: await store.dpopKey(),
  tokenStore: store,
  trading: { compete: false },
  stream: (url, headers) => new WebSocket(url, { headers }),
  deadMan: { timeoutMs: 30_000, scope: 'session' },
  onSessionLoss: 'pause',
  isOwnOrder: (order) => order.clientOrderId.startsWith(prefix),
  backoff: { initialMs: 200, maxMs: 5_000 },
  placementTimeoutMs: 5_000,
  fetch: guardedFetch,
});

let retakeTimer: NodeJS.Timeout | undefined;
bot.on('state', ({ from, to, reason }) => {
  log(`state ${from} → ${to}${reason === undefined ? '' : ` (${reason})`}`);
  if (to === 'degraded' && reason === 'competing' && drill) {
    clearTimeout(retakeTimer);
    retakeTimer = setTimeout(() => {
      if (bot.degradedReason !== 'competing') return;
      log('taking trading back from the scripted login');
      bot.acquireTrading({ compete: true }).catch((e: Error) => log(`taking trading back: ${e.message}`));
    }, retakeMs);
  }
});
bot.on('stepUpRequired', () => log('the gateway asks for a step-up: trading waits for a person'));
bot.on('streamConnected', ({ resumed }) => log(`stream open, resumed after ${JSON.stringify(resumed)}`));
bot.on('orphanedOrder', ({ order }) => log(`working, not mine: ${order.id} (${order.clientOrderId})`));
bot.on('missedCancel', ({ order }) => {
  log(`a cancel never took effect: ${order.id}; cancelling again`);
  toCancel.add(order.id);
});

/** The resting order, cancels to follow up, and intents whose outcome is not known yet (sent again, same id). */
let resting: string | null = null;
const toCancel = new Set<string>();
const pending = new Map<string, OrderRequest>();
let n = 0;
let stopping = false;
const counts = { placed: 0, cancelled: 0, skipped: 0, resent: 0 };

/**
 * After the daily reset the session is still logged in but may not trade until it asks again (`SESSION_RESET`):
 * asks once (without taking trading from anyone) and says whether the call may be sent again.
 */
async function regainTrading(error: unknown): Promise<boolean> {
  if (!(error instanceof GatehouseApiError)) return false;
  if (error.code !== 'SESSION_RESET' && error.code !== 'BROKERAGE_REQUIRED') return false;
  log(`${error.code}: asking for trading again`);
  try {
    await bot.acquireTrading({ compete: false });
    return true;
  } catch (again) {
    log(`asking for trading: ${(again as Error).message}`);
    return false;
  }
}

/** Cancels an order; one that did not take effect is followed up next cycle (never assumed cancelled). */
async function cancel(orderId: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await bot.cancelOrder(account, orderId);
      counts.cancelled += 1;
      toCancel.delete(orderId);
      return;
    } catch (error) {
      // Already filled or cancelled: nothing left to do.
      if (error instanceof GatehouseApiError && ['ORDER_NOT_OPEN', 'ORDER_NOT_FOUND'].includes(error.code)) {
        toCancel.delete(orderId);
        return;
      }
      if (!(await regainTrading(error))) break;
    }
  }
  toCancel.add(orderId);
}

/** Places one intent; an outcome the bot could not learn is kept and sent again with the same clientOrderId. */
async function place(order: OrderRequest): Promise<void> {
  let result: PlaceOrderResult | undefined;
  for (let attempt = 0; attempt < 2 && result === undefined; attempt += 1) {
    try {
      result = await bot.placeOrder(account, order);
    } catch (error) {
      if (await regainTrading(error)) continue;
      log(`order ${order.clientOrderId}: ${(error as Error).message}`);
      if (!(error instanceof GatehouseApiError)) pending.set(order.clientOrderId, order);
      return;
    }
  }
  if (result === undefined) return;
  pending.delete(order.clientOrderId);
  if (result.status === 'accepted' || result.status === 'existing') {
    counts.placed += 1;
    if (result.order.status === 'working') resting = result.order.id;
  } else if (result.status === 'confirmation_required') {
    counts.skipped += 1;
    log(`order ${order.clientOrderId} not placed: ${result.questions.map((q) => q.id).join(', ')}`);
  } else {
    pending.set(order.clientOrderId, order);
  }
}

async function cycle(): Promise<void> {
  if (bot.state !== 'ready') return;
  for (const order of [...pending.values()]) {
    counts.resent += 1;
    await place(order);
    if (bot.state !== 'ready') return;
  }
  if (resting !== null) toCancel.add(resting);
  resting = null;
  for (const id of [...toCancel]) await cancel(id);
  const [quote] = await bot.quote([AAPL], account);
  if (quote === undefined || quote.entitlement.type !== 'live' || quote.bid === null) {
    counts.skipped += 1;
    return;
  }
  n += 1;
  await place({
    clientOrderId: `${prefix}${run}-${n}`,
    instrumentId: AAPL,
    side: 'BUY',
    type: 'LMT',
    quantity: 1,
    limitPrice: Math.max(1, Math.floor(quote.bid * 0.8 * 100) / 100),
    tif: 'DAY',
  });
}

async function shutdown(signal: string): Promise<never> {
  if (stopping) return new Promise<never>(() => {});
  stopping = true;
  clearTimeout(retakeTimer);
  log(`${signal}: cancelling my working orders and leaving`);
  let cancelledAll = false;
  try {
    const done = await bot.cancelAll(account, { mine: true });
    cancelledAll = done.failed.length === 0;
  } catch (error) {
    log(`cancelling: ${(error as Error).message}`);
  }
  // Orders that could not be cancelled are left to the armed dead-man switch.
  await bot.stop({ disarmDeadMan: cancelledAll }).catch(() => {});
  process.stdout.write(`${JSON.stringify({ ...counts, ...bot.stats, cancelledAll })}\n`);
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

await bot.start();
log(`started: ${bot.state}`);
while (!stopping) {
  await cycle().catch((error: Error) => log(`cycle: ${error.message}`));
  await sleep(intervalMs);
}

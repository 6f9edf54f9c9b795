// A first bot on @gatehouse/sdk (docs/sdk/first-bot.md): it starts — or restarts — its session, reads a quote,
// buys one share, waits for the fill, and stops. Run it twice: the second run reuses its key, its token and its
// session, and reads only the events that are new. It prints one JSON line at the end and exits 0 only if the order
// was accepted and filled, once.
import { readFile } from 'node:fs/promises';
import { importPrivateJwk, PersonalClientAuth, SessionSupervisor } from '@gatehouse/sdk';
import { FileTokenStore } from '@gatehouse/sdk/node';
import WebSocket from 'ws';

const here = (file) => new URL(file, import.meta.url).pathname;
// What `gatehouse client create` printed, saved as client.json beside this file.
const client = JSON.parse(await readFile(here('./client.json'), 'utf8'));
const account = process.env.ACCOUNT ?? client.accounts[0];
const store = new FileTokenStore(here('./bot-tokens.json')); // 0600: the tokens, the DPoP key, the event position

const bot = new SessionSupervisor({
  baseUrl: client.baseUrl,
  auth: new PersonalClientAuth({
    clientId: client.clientId,
    clientKey: await importPrivateJwk(JSON.parse(await readFile(client.keyFile, 'utf8'))),
    issuer: client.issuer,
  }),
  dpopKey: await store.dpopKey(),
  tokenStore: store,
  trading: { compete: false }, // never take trading from a person at start
  stream: (url, headers) => new WebSocket(url, { headers }),
  deadMan: { timeoutMs: 60_000, scope: 'session' }, // if this process dies, its own orders are cancelled
});
bot.on('state', (e) => console.log(`state ${e.from} → ${e.to}${e.reason ? ` (${e.reason})` : ''}`));
bot.on('orphanedOrder', ({ order }) => console.log(`working, not mine: ${order.clientOrderId}`));

const filled = new Set();
bot.on('orderEvent', (e) => {
  if (e.type === 'filled' && !e.replayed) filled.add(e.orderId);
});

await bot.start();
if (bot.state !== 'ready') {
  console.log(`not trading: ${bot.degradedReason} (take it with acquireTrading({ compete: true }))`);
  await bot.stop({ disarmDeadMan: true });
  process.exit(2);
}
const [quote] = await bot.quote([265598], account);
console.log(`AAPL ${quote.bid} / ${quote.ask} (${quote.entitlement.type})`);
const result = await bot.placeOrder(account, {
  instrumentId: 265598,
  side: 'BUY',
  type: 'MKT',
  quantity: 1,
  tif: 'DAY',
});
console.log(`order ${result.status}`);
const orderId = result.status === 'accepted' ? result.order.id : null;
for (let i = 0; i < 100 && orderId !== null && !filled.has(orderId); i += 1)
  await new Promise((r) => setTimeout(r, 50));
const open = await bot.openOrders(account);
const { session } = await bot.request('GET', '/v1/session');
await bot.stop({ disarmDeadMan: true });
const ok = orderId !== null && filled.has(orderId) && !open.some((o) => o.id === orderId);
console.log(JSON.stringify({ ok, orderId, filled: filled.has(orderId), session: session.id }));
process.exit(ok ? 0 : 1);

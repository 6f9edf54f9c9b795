/**
 * A paper-trading bot on @gatehouse/sdk that proves it survives what real sessions go through:
 *
 * 1. token expiry — the gateway it starts issues 10-second access tokens, so the bot refreshes a dozen times;
 * 2. a competing login — the user logs in on the web and takes trading over; the bot pauses (degraded), then takes
 *    it back;
 * 3. a network drop — for three seconds every request of the bot fails;
 * 4. a gateway restart — the gateway is killed (SIGKILL) and started again on the same port and database.
 *
 * It trades all along (1-share market orders, buy and sell in turn, each with its own clientOrderId), and at the end
 * checks its invariants against the gateway's own records:
 * - every clientOrderId it sent is at most one order on the server, and every order it was told about exists;
 * - the account events it received arrived once each, in sequence, without a gap (across the restart);
 * - no request was refused for an expired token;
 * - it is `ready` at the end.
 * It prints a summary and exits 0 only if they all held.
 *
 *   npm run build && npx tsx examples/paper-bot/bot.ts
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Fetch, importPrivateJwk, PersonalClientAuth, SessionSupervisor } from '@gatehouse/sdk';
import { newNodeDpopKey } from '@gatehouse/sdk/node';
import { TOTP } from 'otpauth';
import WebSocket from 'ws';

const ACCOUNT = 'DU1000001';
// The demo user's credentials are public and fixed (a development instance only).
const ALICE = {
  username: 'alice',
  password: 'alice-demo-password',
  totpSecret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
};
const cli = new URL('../../packages/gateway/bin/gatehouse.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'gh-paper-bot-'));
const log = (message: string) => process.stderr.write(`[bot] ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let gateway: ChildProcess | undefined;

/** Starts `gatehouse serve --demo` on the bot's database (and port, when restarting). */
function startGateway(port = 0): Promise<string> {
  const child = spawn(
    process.execPath,
    [cli, 'serve', '--demo', '--port', String(port), '--host', '127.0.0.1', '--db', join(dir, 'g.db')],
    {
      env: {
        ...process.env,
        GATEHOUSE_LOG_LEVEL: 'warn',
        GATEHOUSE_OAUTH_ACCESS_TOKEN_TTL_MS: '10000',
        GATEHOUSE_LOGIN_IP_RATE_LIMIT_MAX: '1000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  gateway = child;
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /serving on (http:\/\/\S+)/.exec(out);
      if (match?.[1] !== undefined) resolve(match[1].replace('localhost', '127.0.0.1'));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${out.slice(-1000)}`)));
  });
}

/** The TOTP step last used: a code is accepted once, so the next login waits for a fresh step. */
let lastStep = -1;

/** The user, in a browser: password + TOTP; answers the cookie and CSRF token of a web session. */
async function webLogin(base: string): Promise<{ cookie: string; csrf: string }> {
  const totp = new TOTP({ secret: ALICE.totpSecret });
  while (Math.floor(Date.now() / 30_000) === lastStep) await sleep(250);
  lastStep = Math.floor(Date.now() / 30_000);
  const started = await fetch(`${base}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: ALICE.username, password: ALICE.password, channel: 'web' }),
  });
  const { loginId } = (await started.json()) as { loginId: string };
  const done = await fetch(`${base}/v1/auth/login/${loginId}/factor`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'totp', code: totp.generate({ timestamp: lastStep * 30_000 }) }),
  });
  if (done.status !== 200) throw new Error(`web login: ${done.status} ${await done.text()}`);
  const cookie = (done.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return { cookie, csrf: ((await done.json()) as { csrfToken: string }).csrfToken };
}

async function main(): Promise<boolean> {
  let base = await startGateway();
  const port = Number(new URL(base).port);
  log(`gateway on ${base}`);

  // The user registers the bot's key for the paper account (what the portal's API-client page does).
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const web = await webLogin(base);
  const registered = await fetch(`${base}/v1/oauth/clients`, {
    method: 'POST',
    headers: { cookie: web.cookie, 'x-csrf-token': web.csrf, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'paper bot',
      keys: [publicKey.export({ format: 'jwk' })],
      accounts: [ACCOUNT],
      scopes: ['read', 'trade'],
    }),
  });
  const { clientId } = (await registered.json()) as { clientId: string };

  // The network, with a switch to drop it, counting requests refused for an expired token.
  let networkDown = false;
  let expiryFailures = 0;
  const network: Fetch = async (input, init) => {
    if (networkDown) throw new TypeError('fetch failed: network is down');
    const response = await fetch(input, init);
    if (response.status === 401 && response.headers.get('www-authenticate')?.includes('invalid_token'))
      expiryFailures += 1;
    return response;
  };

  const bot = new SessionSupervisor({
    baseUrl: base,
    auth: new PersonalClientAuth({
      clientId,
      clientKey: await importPrivateJwk(privateKey.export({ format: 'jwk' }) as JsonWebKey),
      issuer: base,
    }),
    dpopKey: newNodeDpopKey(),
    trading: { compete: true },
    onSessionLoss: 'pause',
    backoff: { initialMs: 100, maxMs: 2_000 },
    fetch: network,
    stream: (url, headers) => new WebSocket(url, { headers }) as never,
  });
  const events: number[] = [];
  bot.on('state', (e) => log(`state ${e.from} → ${e.to}${e.reason === undefined ? '' : ` (${e.reason})`}`));
  bot.on('orderEvent', (e) => {
    if (e.accountId === ACCOUNT) events.push(e.eventSeq);
  });
  bot.on('competing', () => log('another session took trading over: pausing'));
  await bot.start();

  // The strategy: while ready, one order every 200 ms, buy and sell in turn.
  const sent = new Set<string>();
  const told = new Set<string>();
  let n = 0;
  let trading = true;
  const strategy = (async () => {
    while (trading) {
      if (bot.state === 'ready') {
        n += 1;
        const clientOrderId = `bot-${n}`;
        sent.add(clientOrderId);
        try {
          const result = await bot.placeOrder(ACCOUNT, {
            clientOrderId,
            instrumentId: 265598,
            side: n % 2 === 0 ? 'SELL' : 'BUY',
            type: 'MKT',
            quantity: 1,
            tif: 'DAY',
          });
          if (result.status === 'accepted' || result.status === 'existing') told.add(result.order.id);
        } catch (error) {
          log(`order ${clientOrderId}: ${(error as Error).message}`);
        }
      }
      await sleep(200);
    }
  })();

  await sleep(12_000); // more than one token lifetime: refreshed on the way
  log('the user, logged in on the web, takes trading over');
  await fetch(`${base}/v1/session/brokerage`, {
    method: 'POST',
    headers: { cookie: web.cookie, 'x-csrf-token': web.csrf, 'content-type': 'application/json' },
    body: JSON.stringify({ compete: true }),
  });
  await sleep(2_000);
  if (bot.state === 'degraded') {
    log('taking trading back');
    await bot.acquireTrading({ compete: true });
  }
  await sleep(3_000);
  log('the network drops for 3 s');
  networkDown = true;
  await sleep(3_000);
  networkDown = false;
  await sleep(3_000);
  log('the gateway is killed and started again');
  gateway?.kill('SIGKILL');
  await new Promise((r) => gateway?.once('exit', r));
  base = await startGateway(port);
  await sleep(8_000); // the stream reconnects and resumes; tokens keep refreshing
  trading = false;
  await strategy;
  await sleep(1_000);

  // The invariants, against the gateway's own records.
  const headers = { cookie: web.cookie };
  const { orders } = (await (
    await fetch(`${base}/v1/accounts/${ACCOUNT}/orders?scope=all`, { headers })
  ).json()) as {
    orders: { id: string; clientOrderId: string }[];
  };
  const byClientId = new Map<string, number>();
  for (const o of orders) byClientId.set(o.clientOrderId, (byClientId.get(o.clientOrderId) ?? 0) + 1);
  const duplicated = [...byClientId].filter(([id, count]) => sent.has(id) && count > 1);
  const serverIds = new Set(orders.map((o) => o.id));
  const unknown = [...told].filter((id) => !serverIds.has(id));
  const gaps = events.filter((seq, i) => seq !== i + 1);
  const summary = {
    ordersSent: sent.size,
    ordersOnServer: orders.length,
    duplicated: duplicated.length,
    toldButMissing: unknown.length,
    eventsReceived: events.length,
    eventGaps: gaps.length,
    expiryFailures,
    refreshes: bot.stats.refreshes,
    reconnects: bot.stats.reconnects,
    finalState: bot.state,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  bot.stop();
  return (
    duplicated.length === 0 &&
    unknown.length === 0 &&
    gaps.length === 0 &&
    events.length > 0 &&
    expiryFailures === 0 &&
    bot.stats.refreshes >= 3 &&
    bot.stats.reconnects >= 1 &&
    summary.finalState === 'ready'
  );
}

main()
  .then((ok) => {
    log(ok ? 'all invariants held' : 'an invariant failed');
    process.exitCode = ok ? 0 : 1;
  })
  .catch((error: unknown) => {
    log(`failed: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  })
  .finally(() => {
    gateway?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

/**
 * A naive bot, on purpose: the way a first broker bot is often written, with plain `fetch`. The drill's report card
 * must fail it (e2e/drill.test.ts shows on which items). It:
 *
 * - gets a token with client credentials and keeps it until a request is refused with 401 — it refreshes only then;
 * - retries blindly: a refused or failed request is sent again at once, and a placement that failed (an error, a
 *   lost answer) is sent again with a NEW clientOrderId — a second order when the first had arrived;
 * - answers every confirmation question yes;
 * - arms no dead-man switch, does nothing safe when trading is lost, never reconciles, and reopens its stream
 *   without `resumeAfter` (what happened while it was closed is never read);
 * - exits at once on SIGTERM, leaving its orders as they are.
 *
 * Its identity comes from the drill's environment (GATEHOUSE_URL, GATEHOUSE_ISSUER, GATEHOUSE_CLIENT_ID,
 * GATEHOUSE_CLIENT_KEY_FILE, GATEHOUSE_ACCOUNT). The JWTs (the client assertion, DPoP proofs) are signed with
 * node:crypto.
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    process.stderr.write(`naive-bot: ${name} is not set\n`);
    process.exit(2);
  }
  return value;
}

const base = env('GATEHOUSE_URL').replace(/\/+$/, '');
const issuer = env('GATEHOUSE_ISSUER');
const clientId = env('GATEHOUSE_CLIENT_ID');
const account = env('GATEHOUSE_ACCOUNT');
const clientKey = createPrivateKey({
  key: JSON.parse(readFileSync(env('GATEHOUSE_CLIENT_KEY_FILE'), 'utf8')),
  format: 'jwk',
});
const dpopKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const dpopJwk = (({ kty, crv, x, y }) => ({ kty, crv, x, y }))(dpopKey.publicKey.export({ format: 'jwk' }));
const intervalMs = Number(process.env.GATEHOUSE_BOT_INTERVAL_MS ?? 1_000);
const log = (message: string) => process.stderr.write(`[naive-bot] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
function jwt(header: Record<string, unknown>, claims: Record<string, unknown>, key = clientKey): string {
  const input = `${b64({ alg: 'ES256', ...header })}.${b64(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);
const proof = (method: string, url: string, token?: string) =>
  jwt(
    { typ: 'dpop+jwt', jwk: dpopJwk },
    {
      htm: method,
      htu: url,
      jti: randomUUID(),
      iat: now(),
      ...(token === undefined ? {} : { ath: createHash('sha256').update(token).digest('base64url') }),
    },
    dpopKey.privateKey,
  );

let token: string | null = null;

async function newToken(): Promise<string> {
  const url = `${base}/oauth2/token`;
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: jwt(
      {},
      { iss: clientId, sub: clientId, aud: issuer, iat: now(), exp: now() + 60, jti: randomUUID() },
    ),
  });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof('POST', url) },
    body: form,
  });
  if (response.status !== 200) throw new Error(`token: HTTP ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** One request; 401 → a new token and again, 429/5xx/network → again at once (up to 5 times in all). */
async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  let last: unknown;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      token ??= await newToken();
      const url = `${base}${path}`;
      const response = await fetch(url, {
        method,
        headers: {
          authorization: `DPoP ${token}`,
          dpop: proof(method, url.split('?')[0] as string, token),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(5_000),
      });
      const json: unknown = await response.json().catch(() => ({}));
      if (response.status === 401) {
        token = null;
        continue;
      }
      if (response.status === 429 || response.status >= 500) {
        last = new Error(`HTTP ${response.status}`);
        continue;
      }
      return { status: response.status, json };
    } catch (error) {
      last = error;
    }
  }
  throw last instanceof Error ? last : new Error('request failed');
}

let n = 0;
let resting: string | null = null;

/** Places one buy; any failure → the same order again under a new clientOrderId. */
async function place(limitPrice: number): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    n += 1;
    const order = {
      clientOrderId: `naive-${n}`,
      instrumentId: 265598,
      side: 'BUY',
      type: 'LMT',
      quantity: 1,
      limitPrice,
      tif: 'DAY',
    };
    try {
      let answer = await api('POST', `/v1/accounts/${account}/orders`, order);
      if (answer.status === 409) {
        const { confirmationId } = answer.json as { confirmationId: string };
        answer = await api('POST', `/v1/accounts/${account}/orders/confirmations/${confirmationId}`, {
          confirmed: true,
        });
      }
      if (answer.status === 200 || answer.status === 201) {
        resting = (answer.json as { id: string }).id;
        return;
      }
      log(`order ${order.clientOrderId}: HTTP ${answer.status}`);
    } catch (error) {
      log(`order ${order.clientOrderId}: ${(error as Error).message}`);
    }
  }
}

function openStream(): void {
  const url = `${base}/v1/stream`;
  const start = async () => {
    token ??= await newToken();
    const socket = new WebSocket(url.replace(/^http/, 'ws'), {
      headers: { authorization: `DPoP ${token}`, dpop: proof('GET', url, token) },
    });
    socket.on('error', () => {});
    socket.on('close', () => setTimeout(openStream, 1_000));
  };
  start().catch(() => setTimeout(openStream, 1_000));
}

process.once('SIGTERM', () => process.exit(0));

await api('POST', '/v1/session/brokerage', { compete: true }).catch((e: Error) => log(e.message));
openStream();
log('started');
for (;;) {
  try {
    if (resting !== null) {
      const id = resting;
      resting = null;
      await api('DELETE', `/v1/accounts/${account}/orders/${id}`);
    }
    const quotes = await api('GET', `/v1/marketdata/snapshot?instruments=265598&accountId=${account}`);
    const bid = (quotes.json as { quotes?: { bid: number | null }[] }).quotes?.[0]?.bid ?? 100;
    await place(Math.max(1, Math.floor(bid * 0.8 * 100) / 100));
  } catch (error) {
    log(`cycle: ${(error as Error).message}`);
  }
  await sleep(intervalMs);
}

/**
 * Test plumbing: an in-process test gateway listening on a loopback port, timers on a clock set off from the
 * gateway's, and the SDK's strategy for a bot registered in that gateway.
 */
import {
  ADMIN_TOKEN,
  INSTRUMENTS,
  type Instrument,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
  type TestProgram,
} from '@gatehouse/gateway/testing';
import { PersonalClientAuth } from './auth.js';
import type { Scheduler } from './clock.js';
import { newDpopKey } from './index.js';
import { importPrivateJwk } from './jose.js';

/** The bot's client credentials as `PersonalClientAuth` (its test key, imported into WebCrypto). */
export async function botAuth(bot: TestProgram, issuer: string): Promise<PersonalClientAuth> {
  const clientKey = await importPrivateJwk(bot.clientKey.privateKey.export({ format: 'jwk' }) as JsonWebKey);
  return new PersonalClientAuth({ clientId: bot.clientId, clientKey, issuer });
}

/** The supervisor options every test bot starts from: the gateway's address, the bot's credentials, a new DPoP key. */
export async function botOptions(bot: TestProgram, baseUrl: string, issuer: string) {
  return { baseUrl, auth: await botAuth(bot, issuer), dpopKey: await newDpopKey() };
}

/**
 * A test gateway listening on an ephemeral loopback port, with the operator's API token set (to register apps):
 * its base URL, and the issuer a program reaches it at. The caller closes it.
 */
export async function listeningGateway(config: TestGatewayOptions['config'] = {}) {
  const g = await startTestGateway({
    config: { server: { port: 0, host: '127.0.0.1' }, secrets: { adminApiToken: ADMIN_TOKEN }, ...config },
  });
  try {
    const base = await g.listen();
    return { g, base, issuer: base.replace('localhost', '127.0.0.1') };
  } catch (error) {
    await g.close();
    throw error;
  }
}

/** Real timers, on a clock that is `skewMs` off the gateway's. */
export function skewed(g: TestGateway, skewMs: number): Scheduler {
  return {
    now: () => g.clock.now() + skewMs,
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  };
}

/** Waits until `check()` holds, polling every 10 ms; throws after `limitMs`. */
export async function until(check: () => boolean, limitMs = 5_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A 1-share buy limit of AAPL 3 % under the bid: it rests, working, until cancelled or the day ends. */
export function restingOrder(g: TestGateway, clientOrderId: string) {
  const bid = g.ctx.marketData.live(INSTRUMENTS.find((i) => i.id === 265598) as Instrument).bid;
  return {
    clientOrderId,
    instrumentId: 265598,
    side: 'BUY',
    type: 'LMT',
    quantity: 1,
    limitPrice: Number((bid * 0.97).toFixed(2)),
    tif: 'DAY',
  } as const;
}

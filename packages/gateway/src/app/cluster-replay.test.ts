/**
 * Two nodes (gateways with `cluster.redisUrl`, a random `cluster.keyPrefix`) on one PostgreSQL database and one
 * Redis: a DPoP proof, a device proof, a signed device login's nonce and a device stream's opening nonce accepted by
 * node A are refused by node B,
 * with the code a replay to A itself gets (core/replay.ts on Redis).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  deviceProof,
  generateDeviceKey,
  parseActivationUri,
  signWithDevice,
  streamUrl,
} from '../authenticator/index.js';
import { ManualClock, RedisReplayGuard } from '../core/index.js';
import { mobileLoginMessage } from '../login/mobile.js';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  loginAs,
  startTestGateway,
  TEST_PUBLIC_URL,
  type TestGateway,
} from '../test-support/gateway.js';
import { botToken, registerBot, type TestProgram } from '../test-support/program.js';
import { testRedisUrl } from '../test-support/redis.js';

const redisUrl = testRedisUrl();
const postgres = testDatabases().find(([name]) => name === 'postgres')?.[1];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Nodes A and B: one database, one Redis, one clock, one public URL (behind one load balancer). */
async function twoNodes(): Promise<{ a: TestGateway; b: TestGateway; database: TestDatabase }> {
  const database = await (postgres as () => Promise<TestDatabase>)();
  cleanups.push(() => database.drop());
  const clock = new ManualClock();
  const config = {
    cluster: { redisUrl: redisUrl as string, keyPrefix: `gh-test-${randomBytes(6).toString('hex')}:` },
  };
  const a = await startTestGateway({ clock, config, database });
  cleanups.push(() => a.close());
  const b = await startTestGateway({ clock, config, database, demo: false });
  cleanups.push(() => b.close());
  return { a, b, database };
}

/** The same program, speaking to node `gw`. */
function on(program: TestProgram, gw: TestGateway): TestProgram {
  return Object.assign(Object.create(program) as TestProgram, { gw });
}

describe.skipIf(redisUrl === null || postgres === undefined)('replays between two nodes', () => {
  it('refuses on node B a DPoP proof node A accepted, at the resource and at the token endpoint', async () => {
    const { a, b } = await twoNodes();
    expect(a.ctx.replay).toBeInstanceOf(RedisReplayGuard);
    const alice = await loginAs(a, ALICE);
    const bot = await registerBot(a, alice);
    const token = await botToken(bot);
    const proof = await bot.proof('GET', '/v1/session', { accessToken: token });
    const send = (gw: TestGateway, dpop = proof) =>
      gw.app.inject({ method: 'GET', url: '/v1/session', headers: { authorization: `DPoP ${token}`, dpop } });

    expect((await send(a)).statusCode).toBe(200);
    const replayed = await send(b);
    expect(replayed.statusCode).toBe(401);
    expect(errorCode(replayed)).toBe('INVALID_DPOP_PROOF');
    // The code node A itself gives a replay.
    expect(errorCode(await send(a))).toBe('INVALID_DPOP_PROOF');
    // Node B knows the token: a fresh proof is accepted there.
    expect((await send(b, await bot.proof('GET', '/v1/session', { accessToken: token }))).statusCode).toBe(
      200,
    );

    // A token request's proof, accepted by A, is refused by B (a fresh client assertion each time).
    const tokenProof = await bot.proof('POST', '/oauth2/token');
    const granted = await bot.form(
      '/oauth2/token',
      { grant_type: 'client_credentials' },
      { dpop: tokenProof },
    );
    expect(granted.statusCode).toBe(200);
    const again = await on(bot, b).form(
      '/oauth2/token',
      { grant_type: 'client_credentials' },
      { dpop: tokenProof },
    );
    expect(again.statusCode).toBe(400);
    expect(json(again)).toMatchObject({ error: 'invalid_dpop_proof' });
  });

  it('refuses on node B a device login nonce, a device proof and a device stream nonce node A accepted', async () => {
    const { a, b } = await twoNodes();
    const alice = await loginAs(a, ALICE);
    const enroll = await callAs(a, 'POST', '/v1/devices/mobile/enroll', alice);
    const { code } = parseActivationUri((json(enroll) as { activationUri: string }).activationUri);
    const key = generateDeviceKey();
    const activated = await a.app.inject({
      method: 'POST',
      url: '/v1/devices/mobile/activate',
      payload: {
        activationCode: code,
        publicKey: key.publicKey,
        name: 'iPhone',
        platform: 'ios',
        pin: '2468',
      },
    });
    expect(activated.statusCode).toBe(200);
    const { deviceId } = json(activated) as { deviceId: string };

    const ts = a.clock.now();
    const nonce = randomBytes(16).toString('base64url');
    const login = {
      channel: 'mobile',
      deviceId,
      pin: '2468',
      ts,
      nonce,
      signature: signWithDevice(key.privateKey, mobileLoginMessage(deviceId, ts, nonce)),
    };
    const loggedIn = await a.app.inject({ method: 'POST', url: '/v1/auth/login', payload: login });
    expect(loggedIn.statusCode).toBe(200);
    const replayedLogin = await b.app.inject({ method: 'POST', url: '/v1/auth/login', payload: login });
    expect(replayedLogin.statusCode).toBe(401);
    expect(errorCode(replayedLogin)).toBe('SIGNATURE_INVALID');
    expect(errorCode(await a.app.inject({ method: 'POST', url: '/v1/auth/login', payload: login }))).toBe(
      'SIGNATURE_INVALID',
    );

    const { token } = json(loggedIn) as { token: string };
    const proofFor = () =>
      deviceProof(
        { privateKey: key.privateKey },
        'GET',
        `${TEST_PUBLIC_URL}/v1/session`,
        token,
        a.clock.now(),
      );
    const proof = proofFor();
    const send = (gw: TestGateway, p = proof) =>
      gw.app.inject({
        method: 'GET',
        url: '/v1/session',
        headers: { authorization: `Bearer ${token}`, 'x-device-proof': p },
      });
    expect((await send(a)).statusCode).toBe(200);
    const replayed = await send(b);
    expect(replayed.statusCode).toBe(401);
    expect(errorCode(replayed)).toBe('PROOF_REPLAYED');
    expect(errorCode(await send(a))).toBe('PROOF_REPLAYED');
    expect((await send(b, proofFor())).statusCode).toBe(200);

    // The signed query that opens the device's push stream, taken by A, is refused by B.
    const query = Object.fromEntries(
      new URL(
        streamUrl(
          { server: TEST_PUBLIC_URL, deviceId, name: 'iPhone', privateKey: key.privateKey },
          a.clock.now(),
        ),
      ).searchParams,
    );
    expect(await a.ctx.deviceHub.authenticate(query)).toBe(deviceId);
    await expect(b.ctx.deviceHub.authenticate(query)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
  });
});

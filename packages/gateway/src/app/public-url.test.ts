/**
 * Nothing security-relevant follows the request's Host header: the OAuth issuer, the URLs DPoP and device proofs
 * are checked against, the mobile activation URI and the stream's own origin all come from the configured public
 * URL (`server.publicUrl`, `oauth.issuer`), and start-up outside development refuses to guess it.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { deviceProof, generateDeviceKey, signWithDevice } from '../authenticator/index.js';
import { defaultConfig } from '../config/index.js';
import { mobileLoginMessage } from '../login/mobile.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  loginAs,
  startTestGateway,
  TEST_SECRET,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';
import { botToken, ISSUER, registerBot } from '../test-support/program.js';
import { createGateway, type Gateway } from './index.js';

const OTHER = 'other-gateway.example';

const open: Gateway[] = [];
const databases: TestDatabase[] = [];
afterEach(async () => {
  while (open.length > 0) await open.pop()?.close();
  for (const database of databases.splice(0)) await database.drop();
});

/** A gateway on a fresh database from `makeDatabase`, closed and dropped after the test. */
async function gateway(
  makeDatabase: TestDatabaseFactory,
  options: TestGatewayOptions = {},
): Promise<TestGateway> {
  const database = await makeDatabase();
  databases.push(database);
  const gw = await startTestGateway({ ...options, database });
  open.push(gw);
  return gw;
}

describe.each(testDatabases())(
  'the OAuth issuer and public URL do not follow the Host header on %s',
  (_name, makeDatabase) => {
    it('refuses a client assertion made for another server, sent with that server’s Host', async () => {
      // Issue 14, finding 6: with `oauth.issuer` unset the issuer was the request's scheme and Host, so a client
      // assertion whose `aud` named another server (https://other-gateway.example) was redeemed here by sending
      // `Host: other-gateway.example`, with a DPoP proof for that host.
      const gw = await gateway(makeDatabase);
      const bot = await registerBot(gw, await loginAs(gw, ALICE));
      const elsewhere = `http://${OTHER}`;
      const token = async (assertion: string, htu: string) =>
        bot.form(
          '/oauth2/token',
          { grant_type: 'client_credentials' },
          {
            assertion,
            dpop: await bot.proof('POST', '/oauth2/token', { htu }),
            headers: { host: OTHER },
          },
        );
      const attack = await token(await bot.assertion({ aud: elsewhere }), `${elsewhere}/oauth2/token`);
      expect(attack.statusCode).toBe(400);
      expect((attack.json() as { error: string }).error).toBe('invalid_dpop_proof');
      const assertionOnly = await token(await bot.assertion({ aud: elsewhere }), `${ISSUER}/oauth2/token`);
      expect(assertionOnly.statusCode).toBe(401);
      expect((assertionOnly.json() as { error: string }).error).toBe('invalid_client');
      // The same client with an assertion for this gateway's issuer gets its token, whatever the Host says.
      const ok = await bot.form(
        '/oauth2/token',
        { grant_type: 'client_credentials' },
        { headers: { host: OTHER } },
      );
      expect(ok.statusCode).toBe(200);
    });

    it('publishes the configured issuer and endpoints in discovery, whatever the Host', async () => {
      // Issue 14, finding 6: discovery answered `issuer: "http://other-gateway.example"` to a request with that Host.
      const gw = await gateway(makeDatabase);
      const metadata = json(
        await gw.app.inject({
          method: 'GET',
          url: '/.well-known/oauth-authorization-server',
          headers: { host: OTHER },
        }),
      );
      expect(metadata.issuer).toBe(ISSUER);
      expect(metadata.token_endpoint).toBe(`${ISSUER}/oauth2/token`);
      expect(JSON.stringify(metadata)).not.toContain(OTHER);
    });

    it('puts the configured public URL in the mobile activation URI, whatever the Host', async () => {
      // Issue 14, finding 6: the activation URI named the request's Host as the server the phone should enrol with.
      const gw = await gateway(makeDatabase);
      const alice = await loginAs(gw, ALICE);
      const response = await callAs(gw, 'POST', '/v1/devices/mobile/enroll', alice, undefined, {
        host: OTHER,
      });
      expect(response.statusCode).toBe(200);
      const uri = new URL((json(response) as { activationUri: string }).activationUri);
      expect(uri.searchParams.get('server')).toBe(ISSUER);
    });

    it('refuses a DPoP proof signed for another host, sent with that Host', async () => {
      // Issue 14, finding 6: a program's DPoP proof was checked against the issuer, which followed the Host header,
      // so a proof made for another server's URL was accepted here when the request named that server as its Host.
      const gw = await gateway(makeDatabase);
      const bot = await registerBot(gw, await loginAs(gw, ALICE));
      const token = await botToken(bot);
      const call = async (host: string, htu: string) =>
        gw.app.inject({
          method: 'GET',
          url: '/v1/session',
          headers: {
            host,
            authorization: `DPoP ${token}`,
            dpop: await bot.proof('GET', '/v1/session', { accessToken: token, htu }),
          },
        });
      const foreign = await call(OTHER, `http://${OTHER}/v1/session`);
      expect(foreign.statusCode).toBe(401);
      expect(errorCode(foreign)).toBe('INVALID_DPOP_PROOF');
      expect((await call(OTHER, `${ISSUER}/v1/session`)).statusCode).toBe(200);
    });

    it('refuses a device proof signed for another host, sent with that Host', async () => {
      // Issue 14, finding 6: a mobile or desktop request's device proof was checked against
      // `${request.protocol}://${request.host}`, so a proof signed for another server's URL was accepted here.
      const gw = await gateway(makeDatabase);
      const alice = await loginAs(gw, ALICE);
      const enrol = await callAs(gw, 'POST', '/v1/devices/mobile/enroll', alice);
      const code = new URL((json(enrol) as { activationUri: string }).activationUri).searchParams.get('code');
      const key = generateDeviceKey();
      const activated = await gw.app.inject({
        method: 'POST',
        url: '/v1/devices/mobile/activate',
        payload: {
          activationCode: code,
          publicKey: key.publicKey,
          name: 'Phone',
          platform: 'test',
          pin: '2468',
        },
      });
      const { deviceId } = json(activated) as { deviceId: string };
      const ts = gw.clock.now();
      const nonce = randomBytes(16).toString('base64url');
      const login = await gw.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: {
          channel: 'mobile',
          deviceId,
          pin: '2468',
          ts,
          nonce,
          signature: signWithDevice(key.privateKey, mobileLoginMessage(deviceId, ts, nonce)),
        },
      });
      const { token } = json(login) as { token: string };
      const call = (url: string) =>
        gw.app.inject({
          method: 'GET',
          url: '/v1/session',
          headers: {
            host: OTHER,
            authorization: `Bearer ${token}`,
            'x-device-proof': deviceProof(key, 'GET', url, token, gw.clock.now()),
          },
        });
      const foreign = await call(`http://${OTHER}/v1/session`);
      expect(foreign.statusCode).toBe(401);
      expect(errorCode(foreign)).toBe('PROOF_INVALID');
      expect((await call(`${ISSUER}/v1/session`)).statusCode).toBe(200);
    });

    it('refuses a stream upgrade whose Origin matches a forged Host', async () => {
      // Issue 14, finding 6: the stream's own origin was `${request.protocol}://${request.host}`, so a page on
      // another origin passed the check by naming its own host in the Host header.
      const gw = await gateway(makeDatabase, { config: { server: { port: 0, host: '127.0.0.1' } } });
      const base = await gw.listen();
      const alice = await loginAs(gw, ALICE);
      const upgrade = (origin: string, host?: string) =>
        new Promise<number>((resolve) => {
          const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/stream`, {
            headers: { cookie: alice.cookie, origin, ...(host === undefined ? {} : { host }) },
          });
          socket.on('open', () => {
            socket.close();
            resolve(101);
          });
          socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
          socket.on('error', () => resolve(0));
        });
      expect(await upgrade(`http://${OTHER}`, OTHER)).toBe(403);
      expect(await upgrade(base)).toBe(101);
    });
  },
);

// The configuration is refused before the database is opened: these run once, on the default one.
describe('start-up', () => {
  const start = (server: Record<string, unknown>) =>
    createGateway(
      defaultConfig({
        server: server as never,
        database: { url: ':memory:' },
        secrets: { serverSecret: TEST_SECRET },
        log: { level: 'silent' },
      }),
    ).then((g) => {
      open.push(g);
      return g;
    });

  it('refuses outside development without a public URL, naming the setting', async () => {
    // Issue 14, finding 6: a gateway listening on every interface, or behind a proxy, started without an issuer
    // and took it from each request's Host header.
    await expect(start({ host: '0.0.0.0' })).rejects.toThrow(
      /server\.publicUrl.*GATEHOUSE_SERVER_PUBLIC_URL/,
    );
    await expect(start({ trustedProxies: ['10.0.0.1'] })).rejects.toThrow(/server\.publicUrl/);
  });
});

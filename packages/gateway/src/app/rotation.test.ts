/**
 * Secret rotation across a restart: values made under the old secret by one gateway are presented to a gateway
 * started afterwards on the same database with the rotated ring — on SQLite, a file database whose ring is its secret
 * file (rewritten by `rotateSecret`); on PostgreSQL, a configured ring (the settings `rotateSecret` prints).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../config/index.js';
import { deriveKey, ManualClock, MemoryReplayGuard, SecretBox } from '../core/index.js';
import { deviceCookieValue } from '../devices/index.js';
import { totpCode } from '../factors/index.js';
import { DpopVerifier, OAuthError } from '../oauth/index.js';
import { signingKeyFromSeed } from '../oauth/signing.js';
import { csrfTokenFor } from '../sessions/index.js';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { botToken, ISSUER, registerBot, type TestProgram } from '../test-support/program.js';
import { type Rotation, rotateSecret } from './rotation.js';
import { readRingFile } from './secret.js';

const GRACE_MS = 300_000;
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Where a case's gateways keep their database and ring; `secrets` is the configured ring of the next start. */
interface Place {
  database: TestDatabase;
  secrets: ConfigInput['secrets'];
  /** The secrets a ring holds now: the current one and the previous ones (for the log check). */
  known(): Buffer[];
  /** Applies a rotation: the file is already rewritten; a configured ring takes the printed settings. */
  apply(rotation: Rotation): void;
}

async function sqliteFile(): Promise<Place> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-rotation-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const database: TestDatabase = {
    dialect: 'sqlite',
    url: join(dir, 'gatehouse.db'),
    options: { sqliteDriver: 'better-sqlite3' },
    drop: async () => {},
  };
  const ringFile = join(dir, 'gatehouse.secret');
  return {
    database,
    secrets: { rotationGraceMs: GRACE_MS },
    known: () => {
      const ring = readRingFile(ringFile);
      return [ring.current, ...ring.previous.map((p) => p.secret)];
    },
    apply: (rotation) => expect(rotation).toMatchObject({ kind: 'file', file: ringFile }),
  };
}

function configured(makeDatabase: () => Promise<TestDatabase>) {
  return async (): Promise<Place> => {
    const database = await makeDatabase();
    cleanups.push(() => database.drop());
    const place: Place = {
      database,
      secrets: { serverSecret: randomBytes(32).toString('base64'), rotationGraceMs: GRACE_MS },
      known: () => [
        Buffer.from(place.secrets?.serverSecret ?? '', 'base64'),
        ...(place.secrets?.previousServerSecrets ?? []).map((p) => Buffer.from(p.secret, 'base64')),
      ],
      apply: (rotation) => {
        if (rotation.kind !== 'config') throw new Error('a configured ring is rotated by settings');
        const s = rotation.settings;
        place.secrets = {
          serverSecret: s.GATEHOUSE_SECRET,
          previousServerSecrets: JSON.parse(s.GATEHOUSE_SECRETS_PREVIOUS_SERVER_SECRETS ?? '[]'),
          identitySecret: s.GATEHOUSE_SECRETS_IDENTITY_SECRET,
          rotationGraceMs: GRACE_MS,
        };
      },
    };
    return place;
  };
}

const cases: [string, () => Promise<Place>][] = testDatabases().map(([name, make]) =>
  name === 'sqlite' ? ['a SQLite file and its secret file', sqliteFile] : [name, configured(make)],
);

describe.each(cases)('secret rotation across a restart on %s', (_name, makePlace) => {
  const logs: string[] = [];

  async function start(place: Place, clock: ManualClock): Promise<TestGateway> {
    const gw = await startTestGateway({
      clock,
      database: place.database,
      ownSecret: true,
      config: { secrets: place.secrets },
      logSink: (line) => logs.push(line),
    });
    cleanups.push(() => gw.close());
    return gw;
  }

  async function browserLogin(gw: TestGateway, deviceCookie?: string) {
    gw.clock.advance(30_000);
    const headers = {
      'user-agent': FIREFOX,
      ...(deviceCookie === undefined ? {} : { cookie: `gh_device=${deviceCookie}` }),
    };
    const started = await gw.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers,
      payload: { username: ALICE.username, password: ALICE.password, channel: 'web' },
    });
    const { loginId } = json(started) as { loginId: string };
    const done = await gw.app.inject({
      method: 'POST',
      url: `/v1/auth/login/${loginId}/factor`,
      headers,
      payload: { type: 'totp', code: totpCode(ALICE.totpSecret, gw.clock.now()) },
    });
    expect(done.statusCode).toBe(200);
    return done;
  }

  const browsers = async (gw: TestGateway) =>
    (await gw.ctx.store.db.selectFrom('devices').select('id').where('kind', '=', 'browser').execute()).length;

  async function introspectionJwt(bot: TestProgram, token: string): Promise<string> {
    const signed = await bot.form(
      '/oauth2/introspect',
      { token },
      { dpop: null, headers: { accept: 'application/token-introspection+jwt' } },
    );
    expect(signed.statusCode).toBe(200);
    return signed.body;
  }

  async function verifiesAgainstJwks(gw: TestGateway, jwt: string, bot: TestProgram): Promise<boolean> {
    const jwks = json(await gw.app.inject({ method: 'GET', url: '/oauth2/jwks' })) as never;
    try {
      await jwtVerify(jwt, createLocalJWKSet(jwks), {
        issuer: ISSUER,
        audience: bot.clientId,
        currentDate: new Date(gw.clock.now()),
      });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Whether the gateway's nonce keys accept a nonce the OLD secret issues now (its current period, so only the key
   * decides), checked through a verifier that requires nonces.
   */
  async function oldNonceAccepted(gw: TestGateway, bot: TestProgram, oldSecret: Buffer): Promise<boolean> {
    const replay = new MemoryReplayGuard(gw.clock, 100);
    const old = new DpopVerifier({
      requireNonce: true,
      nonceKey: deriveKey(oldSecret, 'dpop-nonce'),
      replay,
    });
    const verifier = new DpopVerifier({
      requireNonce: true,
      nonceKey: gw.ctx.secretRing.keys('dpop-nonce'),
      replay,
    });
    const proof = await bot.proof('POST', '/oauth2/token', { nonce: old.nonce(gw.clock.now()) });
    try {
      await verifier.verify({
        proof,
        method: 'POST',
        url: `${gw.ctx.urls.base}/oauth2/token`,
        now: gw.clock.now(),
      });
      return true;
    } catch (error) {
      if (error instanceof OAuthError && error.error === 'use_dpop_nonce') return false;
      throw error;
    }
  }

  /** Values made by a gateway on the first secret, the rotation, and a gateway started on the rotated ring. */
  async function rotatedAcrossRestart() {
    const place = await makePlace();
    const clock = new ManualClock();
    const before = await start(place, clock);
    const web = await browserLogin(before);
    const session: LoggedIn = {
      cookie: `gh_session=${web.cookies.find((c) => c.name === 'gh_session')?.value}`,
      csrf: (json(web) as { csrfToken: string }).csrfToken,
      sessionId: (json(web) as { session: { id: string } }).session.id,
    };
    const deviceCookie = web.cookies.find((c) => c.name === 'gh_device')?.value as string;
    const bot = await registerBot(before, session);
    const token = await botToken(bot);
    const oldJwt = await introspectionJwt(bot, token);
    const sealedBefore = await before.ctx.store.db
      .selectFrom('second_factors')
      .select(['id', 'secret_sealed'])
      .where('type', '=', 'totp')
      .execute();
    const identity = { username: before.ctx.usernameKey, throttle: before.ctx.loginBackoff };
    const oldSecrets = place.known();
    await before.close();

    const rotation = rotateSecret(before.ctx.config, clock.now());
    place.apply(rotation);
    expect(rotation.retiresAt).toBe(new Date(clock.now() + GRACE_MS).toISOString());
    const after = await start(place, clock);
    return {
      place,
      clock,
      after,
      session,
      deviceCookie,
      // The same program, now talking to the restarted gateway.
      bot: Object.assign(Object.create(bot) as TestProgram, { gw: after }),
      token,
      oldJwt,
      sealedBefore,
      identity,
      oldSecrets,
    };
  }

  it('through the grace: the old session cookie and CSRF token, remembered browser, DPoP-bound token, TOTP seed (re-sealed), introspection JWT (both keys in the JWKS) and DPoP nonce still work, and new values use the new secret', async () => {
    const r = await rotatedAcrossRestart();
    const { after } = r;
    // The CSRF token made before the rotation is accepted on an unsafe request; a new one is made with the new key.
    const watch = await callAs(after, 'PUT', '/v1/watchlist', r.session, { instrumentIds: [] });
    expect(watch.statusCode, watch.body).toBe(200);
    const fresh = json(await callAs(after, 'GET', '/v1/session', r.session)) as { csrfToken: string };
    expect(fresh.csrfToken).not.toBe(r.session.csrf);
    // The remembered browser is recognised (no second browser), and its cookie is re-signed under the new secret.
    const again = await browserLogin(after, r.deviceCookie);
    expect(await browsers(after)).toBe(1);
    const resigned = again.cookies.find((c) => c.name === 'gh_device')?.value as string;
    expect(resigned).not.toBe(r.deviceCookie);
    expect(resigned.split('.')[0]).toBe(r.deviceCookie.split('.')[0]);
    // The program's DPoP-bound token keeps working.
    expect((await r.bot.call('GET', '/v1/session', r.token)).statusCode).toBe(200);
    // Every TOTP seed was re-sealed at start: it opens under the new secret alone, and the TOTP login works.
    const newOnly = new SecretBox(r.place.known()[0] as Buffer);
    const sealedAfter = await after.ctx.store.db
      .selectFrom('second_factors')
      .select(['id', 'secret_sealed'])
      .where('type', '=', 'totp')
      .execute();
    expect(sealedAfter.length).toBeGreaterThan(0);
    for (const row of sealedAfter) {
      expect(row.secret_sealed).not.toBe(r.sealedBefore.find((b) => b.id === row.id)?.secret_sealed);
      expect(() => newOnly.open(row.secret_sealed as string)).not.toThrow();
    }
    await loginAs(after, ALICE);
    // The JWKS lists both signing keys; the old JWT and a new one (signed by the new key, its own kid) verify.
    const jwks = json(await after.app.inject({ method: 'GET', url: '/oauth2/jwks' })) as {
      keys: { kid: string }[];
    };
    expect(jwks.keys).toHaveLength(2);
    const newJwt = await introspectionJwt(r.bot, r.token);
    const kidOf = (jwt: string) =>
      (JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString()) as { kid: string }).kid;
    expect(kidOf(newJwt)).toBe(jwks.keys[0]?.kid);
    expect(kidOf(r.oldJwt)).toBe(jwks.keys[1]?.kid);
    expect(await verifiesAgainstJwks(after, r.oldJwt, r.bot)).toBe(true);
    expect(await verifiesAgainstJwks(after, newJwt, r.bot)).toBe(true);
    // A nonce of the old secret is still accepted; new nonces are the new key's.
    const oldSecret = r.oldSecrets[0] as Buffer;
    expect(await oldNonceAccepted(after, r.bot, oldSecret)).toBe(true);
    const oldIssuer = new DpopVerifier({
      requireNonce: true,
      nonceKey: deriveKey(oldSecret, 'dpop-nonce'),
      replay: new MemoryReplayGuard(after.clock, 10),
    });
    expect(after.ctx.dpop.nonce(after.clock.now())).not.toBe(oldIssuer.nonce(after.clock.now()));
    // The lookup keys did not change: audit pseudonyms and throttle rows still match.
    expect(after.ctx.usernameKey.equals(r.identity.username)).toBe(true);
    // No secret, old or new, in any log line.
    for (const secret of [...r.oldSecrets, ...r.place.known()])
      for (const form of [secret.toString('base64'), secret.toString('base64url'), secret.toString('hex')])
        expect(logs.join('\n')).not.toContain(form);
  });

  it('after the grace: the old CSRF token, browser cookie, introspection JWT and nonce are refused, a forgery under a random secret always is, and a restart drops the old secret', async () => {
    const r = await rotatedAcrossRestart();
    const { after, clock } = r;
    // A value signed by a random secret is refused even in the grace.
    const random = randomBytes(32);
    const forgedCsrf = await callAs(after, 'PUT', '/v1/watchlist', {
      ...r.session,
      csrf: csrfTokenFor(random, r.session.sessionId),
    });
    expect(errorCode(forgedCsrf)).toBe('CSRF_TOKEN_INVALID');
    const deviceId = r.deviceCookie.split('.')[0] as string;
    await browserLogin(after, deviceCookieValue(random, deviceId));
    expect(await browsers(after)).toBe(2);
    const forger = signingKeyFromSeed(random);
    const forgedJwt = await new SignJWT({ token_introspection: { active: true } })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'token-introspection+jwt', kid: forger.publicJwk.kid })
      .setIssuer(ISSUER)
      .setAudience(r.bot.clientId)
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .sign(forger.privateKey);
    expect(await verifiesAgainstJwks(after, forgedJwt, r.bot)).toBe(false);
    expect(await oldNonceAccepted(after, r.bot, random)).toBe(false);

    // The grace ends while the gateway runs (the session is kept alive by a request within its idle timeout).
    clock.advance(GRACE_MS / 2);
    await callAs(after, 'GET', '/v1/session', r.session);
    clock.advance(GRACE_MS / 2 + 1);
    expect(errorCode(await callAs(after, 'PUT', '/v1/watchlist', r.session, { instrumentIds: [] }))).toBe(
      'CSRF_TOKEN_INVALID',
    );
    const fresh = json(await callAs(after, 'GET', '/v1/session', r.session)) as { csrfToken: string };
    const renewed = await callAs(
      after,
      'PUT',
      '/v1/watchlist',
      { ...r.session, csrf: fresh.csrfToken },
      {
        instrumentIds: [],
      },
    );
    expect(renewed.statusCode, 'the session lives: only the old token is refused').toBe(200);
    await browserLogin(after, r.deviceCookie);
    expect(await browsers(after), 'the old cookie names an unknown browser now').toBe(3);
    const jwks = json(await after.app.inject({ method: 'GET', url: '/oauth2/jwks' })) as { keys: unknown[] };
    expect(jwks.keys).toHaveLength(1);
    expect(await verifiesAgainstJwks(after, r.oldJwt, r.bot)).toBe(false);
    expect(await oldNonceAccepted(after, r.bot, r.oldSecrets[0] as Buffer)).toBe(false);
    await after.close();

    // A start after the grace: the ring file no longer holds the old secret; TOTP logins still work.
    const later = await start(r.place, clock);
    if (r.place.secrets?.serverSecret === undefined) {
      const file = join(r.place.database.url, '..', 'gatehouse.secret');
      expect(readRingFile(file).previous).toEqual([]);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    }
    await loginAs(later, ALICE);
  });
});

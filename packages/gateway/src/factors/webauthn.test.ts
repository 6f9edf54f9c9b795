/** Security keys and passkeys: registration and login with a software authenticator, counters, AAL, failures. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  startLogin,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { SoftwareAuthenticator } from '../test-support/webauthn.js';

const ORIGIN = 'http://localhost:8080';
let gw: TestGateway;
const databases: TestDatabase[] = [];
let alice: LoggedIn;

afterEach(async () => {
  await gw.close();
  for (const database of databases.splice(0)) await database.drop();
});

/** A fresh database from `makeDatabase`, dropped after the test. */
async function fresh(makeDatabase: TestDatabaseFactory): Promise<TestDatabase> {
  const database = await makeDatabase();
  databases.push(database);
  return database;
}

function call(url: string, as: LoggedIn | null, payload?: unknown) {
  return gw.app.inject({
    method: 'POST',
    url,
    headers: as === null ? {} : { cookie: as.cookie, 'x-csrf-token': as.csrf },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

async function register(key: SoftwareAuthenticator, as = alice) {
  const options = json(await call('/v1/factors/webauthn/options', as)) as { challenge: string };
  return call('/v1/factors/webauthn', as, { label: 'YubiKey', response: key.create(options) });
}

async function webauthnLogin(
  key: SoftwareAuthenticator,
  user = ALICE,
  overrides: Parameters<SoftwareAuthenticator['get']>[1] = {},
) {
  const { loginId } = json(await startLogin(gw, user.username, user.password)) as { loginId: string };
  const options = json(await call(`/v1/auth/login/${loginId}/webauthn/options`, null)) as {
    challenge: string;
    allowCredentials: unknown[];
  };
  return call(`/v1/auth/login/${loginId}/factor`, null, {
    type: 'webauthn',
    response: key.get(options, overrides),
  });
}

describe.each(testDatabases())('WebAuthn on %s', (_name, makeDatabase) => {
  beforeEach(async () => {
    gw = await startTestGateway({ database: await fresh(makeDatabase) });
    alice = await loginAs(gw, ALICE);
  });

  it('registers a hardware-bound key and logs in with it at AAL3, advancing the counter', async () => {
    const key = new SoftwareAuthenticator({ origin: ORIGIN, rpId: 'localhost' });
    const registered = await register(key);
    expect(registered.statusCode).toBe(200);
    expect(json(registered)).toMatchObject({
      status: 'active',
      hardwareBound: true,
      backupFactorMissing: false,
    });
    for (let i = 1; i <= 2; i += 1) {
      const login = await webauthnLogin(key);
      expect(login.statusCode).toBe(200);
      expect(json(login)).toMatchObject({ session: { aal: 3, amr: ['pwd', 'hwk'] } });
    }
    const row = await gw.ctx.store.db
      .selectFrom('second_factors')
      .select(['sign_count'])
      .where('type', '=', 'webauthn')
      .executeTakeFirstOrThrow();
    expect(row.sign_count).toBe(2);
  });

  it('gives a synced passkey AAL2', async () => {
    const passkey = new SoftwareAuthenticator({
      origin: ORIGIN,
      rpId: 'localhost',
      backupEligible: true,
      countUses: false,
    });
    expect(json(await register(passkey))).toMatchObject({ hardwareBound: false });
    expect(json(await webauthnLogin(passkey))).toMatchObject({ session: { aal: 2, amr: ['pwd', 'swk'] } });
    expect((await webauthnLogin(passkey)).statusCode).toBe(200);
  });

  it('refuses a counter that does not move forward (a cloned key)', async () => {
    const key = new SoftwareAuthenticator({ origin: ORIGIN, rpId: 'localhost' });
    await register(key);
    expect((await webauthnLogin(key)).statusCode).toBe(200);
    expect((await webauthnLogin(key)).statusCode).toBe(200);
    const cloned = await webauthnLogin(key, ALICE, { counter: 1 });
    expect(cloned.statusCode).toBe(401);
    expect(errorCode(cloned)).toBe('INVALID_CREDENTIALS');
  });

  it('refuses a wrong origin, a replayed assertion, an unknown challenge and another user’s key', async () => {
    const key = new SoftwareAuthenticator({ origin: ORIGIN, rpId: 'localhost' });
    await register(key);
    expect(errorCode(await webauthnLogin(key, ALICE, { origin: 'https://evil.example' }))).toBe(
      'INVALID_CREDENTIALS',
    );

    const { loginId } = json(await startLogin(gw, ALICE.username, ALICE.password)) as { loginId: string };
    const options = json(await call(`/v1/auth/login/${loginId}/webauthn/options`, null)) as {
      challenge: string;
    };
    const assertion = key.get(options);
    expect(
      (await call(`/v1/auth/login/${loginId}/factor`, null, { type: 'webauthn', response: assertion }))
        .statusCode,
    ).toBe(200);
    const { loginId: second } = json(await startLogin(gw, ALICE.username, ALICE.password)) as {
      loginId: string;
    };
    expect(
      errorCode(
        await call(`/v1/auth/login/${second}/factor`, null, { type: 'webauthn', response: assertion }),
      ),
    ).toBe('INVALID_CREDENTIALS');
    const forged = key.get({ challenge: Buffer.from('not-issued-by-the-server').toString('base64url') });
    expect(
      errorCode(await call(`/v1/auth/login/${second}/factor`, null, { type: 'webauthn', response: forged })),
    ).toBe('INVALID_CREDENTIALS');

    // Bruno's login cannot be completed with Alice's key.
    const bruno = await loginAs(gw, BRUNO);
    const brunoKey = new SoftwareAuthenticator({ origin: ORIGIN, rpId: 'localhost' });
    await register(brunoKey, bruno);
    const { loginId: brunoLogin } = json(await startLogin(gw, BRUNO.username, BRUNO.password)) as {
      loginId: string;
    };
    const brunoOptions = json(await call(`/v1/auth/login/${brunoLogin}/webauthn/options`, null)) as {
      challenge: string;
    };
    expect(
      errorCode(
        await call(`/v1/auth/login/${brunoLogin}/factor`, null, {
          type: 'webauthn',
          response: key.get(brunoOptions),
        }),
      ),
    ).toBe('INVALID_CREDENTIALS');
  });

  it('refuses a registration from another origin or with a reused challenge', async () => {
    const key = new SoftwareAuthenticator({ origin: ORIGIN, rpId: 'localhost' });
    const options = json(await call('/v1/factors/webauthn/options', alice)) as { challenge: string };
    const wrongOrigin = await call('/v1/factors/webauthn', alice, {
      response: key.create(options, { origin: 'https://evil.example' }),
    });
    expect(errorCode(wrongOrigin)).toBe('INVALID_CREDENTIALS');
    // The challenge was consumed by the failed attempt.
    expect(errorCode(await call('/v1/factors/webauthn', alice, { response: key.create(options) }))).toBe(
      'INVALID_CREDENTIALS',
    );
    const rows = await gw.ctx.store.db
      .selectFrom('second_factors')
      .select('id')
      .where('type', '=', 'webauthn')
      .execute();
    expect(rows).toEqual([]);
  });

  it('lists the key among the login factors, strongest first', async () => {
    await register(new SoftwareAuthenticator({ origin: ORIGIN, rpId: 'localhost' }));
    const started = json(await startLogin(gw, ALICE.username, ALICE.password)) as {
      factors: { type: string }[];
    };
    expect(started.factors.map((f) => f.type)).toEqual(['webauthn', 'totp']);
  });
});

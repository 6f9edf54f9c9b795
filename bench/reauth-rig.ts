/**
 * bench/reauth-rig.ts — what bench/reauth.ts measures against: a gateway of this tree in its own child process (run
 * from source with `tsx`, SQLite, the failure sandbox on, the demo users seeded, and `count` extra web users who
 * may trade `DU1000001`, each with a TOTP secret of its own, since a code is accepted once), and the clients set up
 * over HTTP as a person would set them up, before anything is timed:
 *
 * - `web`: Alice's web session (password + TOTP);
 * - `mobile`: Alice's phone, enrolled from that web session, logged in with its device key and PIN;
 * - `desktop`: Alice's workstation: a security key registered from the web session, a first desktop login with the
 *   password and that key, the workstation key registered in it — so later logins are password + a statement
 *   signed by the workstation key;
 * - `api`: a third-party app (refresh tokens, DPoP) that Alice authorised on `DU1000001`, driven by the SDK's
 *   `SessionSupervisor` with Node's DPoP key, as a Node program runs it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGateway } from '../packages/gateway/src/app/index.js';
import {
  type DeviceIdentity,
  deviceProof,
  enrolDevice,
  generateDeviceKey,
} from '../packages/gateway/src/authenticator/index.js';
import { loadConfig } from '../packages/gateway/src/config/index.js';
import { DEMO_USERS, seedDemo } from '../packages/gateway/src/demo/index.js';
import { addTotpFactor } from '../packages/gateway/src/factors/index.js';
import { createUser, grantAccountRole } from '../packages/gateway/src/identity/index.js';
import { SoftwareAuthenticator } from '../packages/gateway/src/test-support/webauthn.js';
import {
  AppAuth,
  importPrivateJwk,
  realScheduler,
  ServerClock,
  SessionSupervisor,
  Transport,
} from '../packages/sdk/src/index.js';
import { newNodeDpopKey } from '../packages/sdk/src/node.js';
import { Signer } from './dpop.js';
import { spawnServing, stopper } from './lib.js';
import {
  type DeviceSession,
  desktopLogin,
  expectOk,
  PIN,
  phoneLogin,
  post,
  type WebSession,
  type WebUser,
  type Workstation,
  webLogin,
} from './reauth-clients.js';

export const ADMIN_TOKEN = 'r'.repeat(40);
export const ACCOUNT = 'DU1000001';
const WEB_PASSWORD = 'reauth-bench-password-0123';
const REDIRECT = 'https://bench.example/cb';
/** The gateway's default WebAuthn relying party (`webauthn.rpId`, `webauthn.origins`). */
const WEBAUTHN = { origin: 'http://localhost:8080', rpId: 'localhost' };

/** The child: the gateway, its demo users and `count` web users who may trade the demo account. */
async function serve(dir: string, count: number): Promise<void> {
  const config = loadConfig({
    env: process.env,
    overrides: {
      server: { host: '127.0.0.1', port: 0 },
      database: { url: join(dir, 'g.db') },
      sandbox: { enabled: true },
      secrets: { adminApiToken: ADMIN_TOKEN },
      metrics: { listen: 'off' },
      log: { level: 'warn' },
    },
  });
  const gateway = await createGateway(config);
  const { ctx } = gateway;
  await seedDemo(ctx);
  const passwordHash = await ctx.hasher.hash(WEB_PASSWORD);
  const users: WebUser[] = [];
  for (let i = 0; i < count; i += 1) {
    const user = await createUser(ctx.store.db, ctx.clock, {
      username: `reauth${i}`,
      displayName: `Re-auth ${i}`,
      passwordHash,
    });
    const { secret } = await addTotpFactor(ctx.store.db, ctx.clock, ctx.box, {
      userId: user.id,
      label: 'bench',
      issuer: 'Gatehouse',
      accountName: user.username,
    });
    await grantAccountRole(ctx.store.db, user.id, ACCOUNT, 'trader');
    users.push({ username: user.username, password: WEB_PASSWORD, secret });
  }
  writeFileSync(join(dir, 'users.json'), JSON.stringify(users));
  await gateway.listen();
  process.stdout.write(`serving on ${ctx.urls.base}\n`);
  process.once('SIGTERM', () => {
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

if (process.argv[2] === '--serve') await serve(process.argv[3] ?? '', Number(process.argv[4] ?? 0));

export interface BenchGateway {
  url: string;
  /** The gateway's process (its CPU time is read from /proc). */
  pid: number;
  users: WebUser[];
  stop(): Promise<void>;
}

/** Starts the child gateway with `webUsers` extra web users; resolves once it listens. */
export async function startReauthGateway(webUsers: number): Promise<BenchGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-reauth-'));
  const { child, url } = await spawnServing(fileURLToPath(import.meta.url), [dir, String(webUsers)], {
    // Every request comes from 127.0.0.1, and each trial logs in again.
    GATEHOUSE_LOGIN_IP_RATE_LIMIT_MAX: '1000000',
    GATEHOUSE_SESSIONS_MAX_LIVE_PER_USER: '10000',
  });
  const users = JSON.parse(readFileSync(join(dir, 'users.json'), 'utf8')) as WebUser[];
  return {
    url,
    pid: child.pid as number,
    users,
    async stop() {
      await stopper(child)();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Registers a security key for Alice from her web session, and a workstation key from a first desktop login. */
async function validateWorkstation(url: string, web: WebSession): Promise<Workstation> {
  const alice = DEMO_USERS[0] as (typeof DEMO_USERS)[number];
  const securityKey = new SoftwareAuthenticator(WEBAUTHN);
  const options = expectOk(
    'webauthn options',
    await post(`${url}/v1/factors/webauthn/options`, {}, web.headers),
  );
  expectOk(
    'webauthn registration',
    await post(
      `${url}/v1/factors/webauthn`,
      { label: 'bench key', response: securityKey.create(options as { challenge: string }) },
      web.headers,
    ),
  );
  const started = expectOk(
    'first desktop login',
    await post(`${url}/v1/auth/login`, {
      channel: 'desktop',
      username: alice.username,
      password: alice.password,
    }),
  );
  const loginId = started.loginId as string;
  const assertion = expectOk(
    'login webauthn options',
    await post(`${url}/v1/auth/login/${loginId}/webauthn/options`, {}),
  );
  const done = expectOk(
    'desktop security key',
    await post(`${url}/v1/auth/login/${loginId}/factor`, {
      type: 'webauthn',
      response: securityKey.get(assertion as { challenge: string; allowCredentials: unknown[] }),
    }),
  );
  const key = generateDeviceKey();
  const token = done.token as string;
  const registerUrl = `${url}/v1/devices/desktop`;
  const registered = expectOk(
    'workstation key',
    await post(
      registerUrl,
      { publicKey: key.publicKey, name: 'bench workstation', platform: 'linux' },
      { authorization: `Bearer ${token}`, 'x-device-proof': deviceProof(key, 'POST', registerUrl, token) },
    ),
  );
  return {
    username: alice.username,
    password: alice.password,
    deviceId: registered.deviceId as string,
    privateKey: key.privateKey,
  };
}

/** A third-party app Alice authorised on the demo account, run by the SDK's supervisor (trading taken at start). */
async function authorisedApp(url: string, web: WebSession) {
  const clientKey = new Signer();
  const created = expectOk(
    'app registration',
    await post(
      `${url}/v1/admin/oauth/clients`,
      { name: 'bench app', keys: [clientKey.jwk], redirectUris: [REDIRECT], scopes: ['read', 'trade'] },
      { authorization: `Bearer ${ADMIN_TOKEN}` },
    ),
  );
  const clientId = created.clientId as string;
  const metadata = (await (await fetch(`${url}/.well-known/oauth-authorization-server`)).json()) as {
    issuer: string;
  };
  const auth = new AppAuth({
    clientId,
    clientKey: await importPrivateJwk(clientKey.privateKey.export({ format: 'jwk' }) as JsonWebKey),
    issuer: metadata.issuer,
  });
  const dpopKey = newNodeDpopKey();
  const transport = new Transport(url, dpopKey, new ServerClock(realScheduler));
  const pushed = await auth.pushAuthorization(transport, { redirectUri: REDIRECT, scope: 'read trade' });
  const consent = expectOk(
    'consent',
    await post(
      `${url}/oauth2/authorize/consent`,
      { clientId, requestUri: pushed.requestUri, approve: true, accounts: [ACCOUNT] },
      web.headers,
    ),
  );
  const tokens = await auth.exchangeCode(transport, {
    code: auth.readRedirect(consent.redirectTo as string, { state: pushed.state }),
    codeVerifier: pushed.codeVerifier,
    redirectUri: REDIRECT,
  });
  const supervisor = new SessionSupervisor({
    baseUrl: url,
    auth,
    dpopKey,
    initialTokens: tokens,
    keepAliveMs: null,
    trading: { compete: true },
  });
  await supervisor.start();
  return { clientId, supervisor };
}

export interface Clients {
  web: WebSession;
  phone: DeviceIdentity;
  mobile: DeviceSession;
  station: Workstation;
  desktop: DeviceSession;
  app: Awaited<ReturnType<typeof authorisedApp>>;
}

/** Sets up Alice's clients on every channel (see the module's comment). */
export async function setUpClients(url: string): Promise<Clients> {
  const alice = DEMO_USERS[0] as (typeof DEMO_USERS)[number];
  const web = await webLogin(url, alice, 'current');
  const enrolment = expectOk(
    'phone enrolment',
    await post(`${url}/v1/devices/mobile/enroll`, {}, web.headers),
  );
  const phone = await enrolDevice(enrolment.activationUri as string, {
    name: 'bench phone',
    platform: 'bench',
    pin: PIN,
  });
  const mobile = await phoneLogin(url, phone);
  const station = await validateWorkstation(url, web);
  const desktop = await desktopLogin(url, station);
  const app = await authorisedApp(url, web);
  return { web, phone, mobile, station, desktop, app };
}

/**
 * The factors family of faults, each shown by what the rest of the gateway does about it: a push that never
 * arrives (the login offers its fallback, TOTP finishes it), one that arrives late (the phone sees it after the
 * delay, the approval logs in), one the phone's user denies (`PUSH_DENIED`, audited and notified as a real denial),
 * a text lost by the carrier (no outbox row; a resend later delivers), a text delivered late, and a security key
 * that is not there (its assertion refused, TOTP still logs in). A fault on Bruno leaves Alice's factors alone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { listAuditForUser } from '../audit/index.js';
import {
  connectDevice,
  type DeviceIdentity,
  type DeviceStream,
  enrolDevice,
} from '../authenticator/index.js';
import type { ActiveFault, FaultKind } from '../core/index.js';
import { SMS_POLICY, totpCode } from '../factors/index.js';
import type { PushMessage } from '../factors/push.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  lastSmsCode,
  loginAs,
  startLogin,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { SoftwareAuthenticator } from '../test-support/webauthn.js';
import { FactorFaults } from './factor-faults.js';
import type { Sandbox } from './service.js';

type User = typeof ALICE;

let gw: TestGateway;
let base: string;
const streams: DeviceStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  await gw?.close();
});

const operator = { type: 'operator' } as const;

/** A gateway with the sandbox on; listening when devices must reach it. */
async function start(listen = false): Promise<{ sandbox: Sandbox; ids: Map<User, string> }> {
  gw = await startTestGateway({
    config: { sandbox: { enabled: true }, ...(listen ? { server: { port: 0, host: '127.0.0.1' } } : {}) },
  });
  if (listen) base = await gw.listen();
  const sandbox = gw.ctx.sandbox;
  if (sandbox === null) throw new Error('sandbox off');
  const ids = new Map<User, string>();
  for (const user of [ALICE, BRUNO]) {
    const row = await gw.ctx.store.db
      .selectFrom('users')
      .select('id')
      .where('username', '=', user.username)
      .executeTakeFirstOrThrow();
    ids.set(user, row.id);
  }
  return { sandbox, ids };
}

function inject(
  sandbox: Sandbox,
  kind: string,
  userId: string | undefined,
  params?: Record<string, unknown>,
) {
  return sandbox.inject(
    { kind, target: { type: 'user', id: userId }, ...(params === undefined ? {} : { params }) },
    operator,
  );
}

/** An enrolled phone with its stream open; every push it receives is kept in `received`. */
async function phone(user: User) {
  const session = await loginAs(gw, user);
  const enrol = await callAs(gw, 'POST', '/v1/devices/mobile/enroll', session, undefined, {
    host: new URL(base).host,
  });
  expect(enrol.statusCode).toBe(200);
  const { activationUri } = json(enrol) as { activationUri: string };
  const identity: DeviceIdentity = await enrolDevice(activationUri, { name: 'Phone', platform: 'test' });
  const received: PushMessage[] = [];
  const waiters: ((push: PushMessage) => void)[] = [];
  const stream = await connectDevice(identity, {
    onPush: (push) => {
      received.push(push);
      for (const wake of waiters.splice(0)) wake(push);
    },
    now: gw.clock.now(),
  });
  streams.push(stream);
  const next = () =>
    new Promise<PushMessage>((resolve) => {
      const first = received[0];
      if (first !== undefined) resolve(first);
      else waiters.push(resolve);
    });
  return { identity, stream, received, next };
}

async function pushLogin(user: User) {
  gw.clock.advance(30_000);
  const { loginId } = json(await startLogin(gw, user.username, user.password)) as { loginId: string };
  const started = await gw.app.inject({
    method: 'POST',
    url: `/v1/auth/login/${loginId}/factor`,
    payload: { type: 'push' },
  });
  expect(started.statusCode).toBe(200);
  return { loginId, ...(json(started) as { challengeId: string; number: string; fallbackAfterMs: number }) };
}

const poll = (loginId: string, waitMs = 0) =>
  gw.app.inject({ method: 'GET', url: `/v1/auth/login/${loginId}?waitMs=${waitMs}` });

const submit = (loginId: string, payload: Record<string, unknown>) =>
  gw.app.inject({ method: 'POST', url: `/v1/auth/login/${loginId}/factor`, payload });

const totp = (loginId: string, user: User = ALICE) =>
  submit(loginId, { type: 'totp', code: totpCode(user.totpSecret, gw.clock.now()) });

/** Lets the device stream's socket carry anything already sent (a short real wait). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 60));

async function outboxCount(): Promise<number> {
  return (await gw.ctx.store.db.selectFrom('sms_outbox').select('id').execute()).length;
}

/** Enrols and confirms an SMS number for `user`; the clock then moves past the resend interval. */
async function enrolSms(user: User, phoneNumber: string) {
  const session = await loginAs(gw, user);
  const enrol = await callAs(gw, 'POST', '/v1/factors/sms', session, { phone: phoneNumber });
  expect(enrol.statusCode).toBe(200);
  const { factorId } = json(enrol) as { factorId: string };
  const confirmed = await callAs(gw, 'POST', `/v1/factors/${factorId}/confirm`, session, {
    code: await lastSmsCode(gw),
  });
  expect(confirmed.statusCode).toBe(200);
  gw.clock.advance(SMS_POLICY.resendIntervalMs + 1_000);
}

async function openLogin(user: User): Promise<string> {
  const started = await startLogin(gw, user.username, user.password);
  expect(started.statusCode).toBe(200);
  return (json(started) as { loginId: string }).loginId;
}

const text = (loginId: string) => gw.app.inject({ method: 'POST', url: `/v1/auth/login/${loginId}/sms` });

describe('push faults', () => {
  it('push.not_delivered: nothing reaches the phone, the login offers its fallback, TOTP logs in', async () => {
    const { sandbox, ids } = await start(true);
    const device = await phone(ALICE);
    await inject(sandbox, 'push.not_delivered', ids.get(ALICE));
    const login = await pushLogin(ALICE);
    await settle();
    expect(device.received).toEqual([]);
    expect(json(await poll(login.loginId))).toMatchObject({ status: 'push_pending', delivered: false });
    gw.clock.advance(login.fallbackAfterMs);
    const late = json(await poll(login.loginId)) as { delivered: boolean; fallbackFactors: unknown };
    expect(late).toMatchObject({ delivered: false, fallbackFactors: [{ type: 'totp' }] });
    const done = await totp(login.loginId);
    expect(done.statusCode).toBe(200);
    expect(json(done)).toMatchObject({ status: 'authenticated', session: { amr: ['pwd', 'otp'] } });
    const [listed] = await sandbox.list();
    expect(listed).toMatchObject({ kind: 'push.not_delivered', hits: 1 });
  });

  it('push.late: the phone gets the request after the delay, and its approval logs in', async () => {
    const { sandbox, ids } = await start(true);
    const device = await phone(ALICE);
    await inject(sandbox, 'push.late', ids.get(ALICE), { delayMs: 200 });
    const sentAt = Date.now();
    const login = await pushLogin(ALICE);
    expect(device.received).toEqual([]);
    expect(json(await poll(login.loginId))).toMatchObject({ status: 'push_pending', delivered: false });
    const push = await device.next();
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(180);
    expect(push).toMatchObject({ challengeId: login.challengeId, number: login.number });
    const waiting = poll(login.loginId, 3_000);
    device.stream.decide(push, 'approve');
    const done = await waiting;
    expect(done.statusCode).toBe(200);
    expect(json(done)).toMatchObject({ status: 'authenticated', session: { amr: ['pwd', 'mca'] } });
    const row = await gw.ctx.store.db.selectFrom('push_challenges').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'approved', device_id: device.identity.deviceId });
  });

  it('push.auto_denied: the phone’s user denies; the login fails PUSH_DENIED, audited and notified', async () => {
    const { sandbox, ids } = await start(true);
    const alice = ids.get(ALICE) as string;
    const device = await phone(ALICE);
    const fault = await inject(sandbox, 'push.auto_denied', alice);
    const login = await pushLogin(ALICE);
    expect(errorCode(await poll(login.loginId, 2_000))).toBe('PUSH_DENIED');
    // A denial is final, as a tap on Deny is: the login sends no further push (its other factors stay open).
    const again = await gw.app.inject({
      method: 'POST',
      url: `/v1/auth/login/${login.loginId}/factor`,
      payload: { type: 'push' },
    });
    expect(errorCode(again)).toBe('PUSH_DENIED');
    const denied = (await listAuditForUser(gw.ctx.store.db, alice, 20)).find((a) => a.type === 'push.denied');
    expect(denied?.data).toEqual({
      challengeId: login.challengeId,
      deviceId: device.identity.deviceId,
      sandboxFault: fault.id,
    });
    const notified = await gw.ctx.store.db
      .selectFrom('notifications')
      .select('kind')
      .where('user_id', '=', alice)
      .execute();
    expect(notified.map((n) => n.kind)).toContain('push_denied');
    const row = await gw.ctx.store.db.selectFrom('push_challenges').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'denied', device_id: device.identity.deviceId });
    await settle();
    expect(device.received).toEqual([]);
  });
});

describe('SMS faults', () => {
  it('sms.lost: the sender reports success and nothing arrives; a resend after the interval, fault cleared, delivers', async () => {
    const { sandbox, ids } = await start();
    await enrolSms(ALICE, '+14155550100');
    const fault = await inject(sandbox, 'sms.lost', ids.get(ALICE));
    const before = await outboxCount();
    const loginId = await openLogin(ALICE);
    expect((await text(loginId)).statusCode).toBe(200);
    expect(await outboxCount()).toBe(before);
    // The code exists, but no one can read it: a guess is only a guess.
    expect(errorCode(await submit(loginId, { type: 'sms', code: '000000' }))).toBe('INVALID_CREDENTIALS');
    expect(errorCode(await text(loginId))).toBe('SMS_RESEND_TOO_SOON');
    await sandbox.clear(fault.id, operator);
    gw.clock.advance(SMS_POLICY.resendIntervalMs);
    expect((await text(loginId)).statusCode).toBe(200);
    expect(await outboxCount()).toBe(before + 1);
    const done = await submit(loginId, { type: 'sms', code: await lastSmsCode(gw) });
    expect(done.statusCode).toBe(200);
    expect(json(done)).toMatchObject({ status: 'authenticated' });
  });

  it('sms.late: the outbox row appears only after the delay, and its code logs in', async () => {
    const { sandbox, ids } = await start();
    await enrolSms(ALICE, '+14155550100');
    await inject(sandbox, 'sms.late', ids.get(ALICE), { delayMs: 200 });
    const before = await outboxCount();
    const loginId = await openLogin(ALICE);
    const sentAt = Date.now();
    expect((await text(loginId)).statusCode).toBe(200);
    expect(await outboxCount()).toBe(before);
    let arrivedAt = 0;
    for (let i = 0; i < 40 && arrivedAt === 0; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      if ((await outboxCount()) > before) arrivedAt = Date.now();
    }
    expect(arrivedAt - sentAt).toBeGreaterThanOrEqual(180);
    const done = await submit(loginId, { type: 'sms', code: await lastSmsCode(gw) });
    expect(json(done)).toMatchObject({ status: 'authenticated' });
  });
});

describe('webauthn.missing', () => {
  it('the key never answers: its assertion is refused as expired, and TOTP completes the login', async () => {
    const { sandbox, ids } = await start();
    const key = new SoftwareAuthenticator({ origin: 'http://localhost:8080', rpId: 'localhost' });
    const session = await loginAs(gw, ALICE);
    const options = json(await callAs(gw, 'POST', '/v1/factors/webauthn/options', session)) as {
      challenge: string;
    };
    const registered = await callAs(gw, 'POST', '/v1/factors/webauthn', session, {
      label: 'YubiKey',
      response: key.create(options),
    });
    expect(registered.statusCode).toBe(200);
    const fault = await inject(sandbox, 'webauthn.missing', ids.get(ALICE));
    const webauthnLogin = async () => {
      gw.clock.advance(30_000);
      const loginId = await openLogin(ALICE);
      const asked = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${loginId}/webauthn/options`,
      });
      expect(asked.statusCode).toBe(200);
      const challenge = json(asked) as { challenge: string };
      return { loginId, answer: () => submit(loginId, { type: 'webauthn', response: key.get(challenge) }) };
    };
    const missing = await webauthnLogin();
    const stored = await gw.ctx.store.db
      .selectFrom('webauthn_challenges')
      .selectAll()
      .where('login_id', 'is not', null)
      .executeTakeFirstOrThrow();
    expect(stored.expires_at).toBe(stored.created_at);
    expect(errorCode(await missing.answer())).toBe('INVALID_CREDENTIALS');
    const failed = (await listAuditForUser(gw.ctx.store.db, ids.get(ALICE) as string, 10)).find(
      (a) => a.type === 'login.factor_failed',
    );
    expect(failed?.data).toMatchObject({ factor: 'webauthn' });
    const done = await totp(missing.loginId);
    expect(json(done)).toMatchObject({ status: 'authenticated', session: { amr: ['pwd', 'otp'] } });
    // The key back: the same ceremony succeeds.
    await sandbox.clear(fault.id, operator);
    const back = await webauthnLogin();
    expect(json(await back.answer())).toMatchObject({ status: 'authenticated', session: { aal: 3 } });
  });
});

describe('a fault on Bruno', () => {
  it('does not touch Alice’s pushes or texts', async () => {
    const { sandbox, ids } = await start(true);
    const device = await phone(ALICE);
    await enrolSms(ALICE, '+14155550100');
    const bruno = ids.get(BRUNO);
    for (const kind of ['push.not_delivered', 'push.auto_denied', 'sms.lost'])
      await inject(sandbox, kind, bruno);
    await inject(sandbox, 'push.late', bruno, { delayMs: 60_000 });
    await inject(sandbox, 'sms.late', bruno, { delayMs: 60_000 });
    const login = await pushLogin(ALICE);
    const push = await device.next();
    expect(push.challengeId).toBe(login.challengeId);
    const waiting = poll(login.loginId, 3_000);
    device.stream.decide(push, 'approve');
    expect(json(await waiting)).toMatchObject({ status: 'authenticated' });
    const before = await outboxCount();
    gw.clock.advance(SMS_POLICY.resendIntervalMs);
    const loginId = await openLogin(ALICE);
    expect((await text(loginId)).statusCode).toBe(200);
    expect(await outboxCount()).toBe(before + 1);
    expect(json(await submit(loginId, { type: 'sms', code: await lastSmsCode(gw) }))).toMatchObject({
      status: 'authenticated',
    });
    expect((await sandbox.list()).every((f) => f.hits === 0)).toBe(true);
  });
});

describe('the late deliveries it holds back', () => {
  it('are cancelled when the gateway closes, and nothing is held while no fault is armed', async () => {
    await start();
    const late: ActiveFault = { id: 'flt_x', kind: 'sms.late', params: { delayMs: 40 } };
    const probe = {
      armed: false,
      take: (kind: FaultKind) => (kind === 'sms.late' ? late : undefined),
      holds: () => undefined,
      takeAll: () => [],
      holdsAll: () => [],
    };
    const errors: unknown[] = [];
    const faults = new FactorFaults({
      faults: probe,
      db: gw.ctx.store.db,
      clock: gw.clock,
      notifier: gw.ctx.notifier,
      bus: gw.ctx.bus,
      onError: (error) => errors.push(error),
    });
    const sent: string[] = [];
    const sms = faults.sms({ send: async (_to, body) => void sent.push(body) });
    await sms.send('+14155550100', 'one', { userId: 'usr_a' });
    expect(sent).toEqual(['one']);
    probe.armed = true;
    await sms.send('+14155550100', 'two', { userId: 'usr_a' });
    expect(sent).toEqual(['one']);
    await faults.close();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(sent).toEqual(['one']);
    expect(errors).toEqual([]);
  });
});

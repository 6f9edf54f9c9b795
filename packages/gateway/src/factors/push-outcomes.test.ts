/**
 * One truth for push outcomes, told to both screens: each push ends in exactly one final state (approved, denied,
 * wrong_number, expired, cancelled), decided on the gateway; the login screen learns it from its poll and the
 * phone from its device stream (`push_state`). A pending push is cancelled when its login completes with another
 * factor, fails or sends a newer push, and the phone is told at once (push fatigue: no stale prompt stays to be
 * approved without reading). Revoking a phone closes its stream. The setup QR code holds the https link of the
 * authenticator page on the configured public URL (never the Host header), and a test push checks a new phone.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  connectDevice,
  type DeviceIdentity,
  type DeviceStream,
  enrolDevice,
} from '../authenticator/index.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  startLogin,
  startTestGateway,
  submitTotp,
  type TestGateway,
} from '../test-support/gateway.js';
import { totpCode } from './index.js';
import type { PushMessage } from './push.js';

let gw: TestGateway;
let base: string;
const streams: DeviceStream[] = [];

beforeEach(async () => {
  gw = await startTestGateway({ config: { server: { port: 0, host: '127.0.0.1' } } });
  base = await gw.listen();
});

afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  await gw.close();
});

async function enrol(user = ALICE): Promise<{ phone: DeviceIdentity; session: LoggedIn }> {
  const session = await loginAs(gw, user);
  const response = await callAs(gw, 'POST', '/v1/devices/mobile/enroll', session, undefined, {
    host: new URL(base).host,
  });
  const { activationUri } = json(response) as { activationUri: string };
  const phone = await enrolDevice(activationUri, { name: 'Pixel', platform: 'test' });
  return { phone, session };
}

/** A connected phone: the pushes it received and every `push_state` it was told, in order. */
async function connect(identity: DeviceIdentity) {
  const pushes: PushMessage[] = [];
  const states: { challengeId: string; status: string }[] = [];
  const other: { type: string }[] = [];
  const stream = await connectDevice(identity, {
    now: gw.clock.now(),
    onPush: (push) => pushes.push(push),
    onMessage: (message) => {
      const m = message as { type: string; challengeId: string; status: string };
      if (m.type === 'push_state') states.push({ challengeId: m.challengeId, status: m.status });
      else other.push(m);
    },
  });
  streams.push(stream);
  return { stream, pushes, states, other };
}

/** Waits (bounded, real time) until `check` holds. */
async function eventually(check: () => boolean, ms = 3_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function openLogin(user = ALICE): Promise<string> {
  gw.clock.advance(30_000);
  return (json(await startLogin(gw, user.username, user.password)) as { loginId: string }).loginId;
}

function factor(loginId: string, payload: Record<string, unknown>) {
  return gw.app.inject({ method: 'POST', url: `/v1/auth/login/${loginId}/factor`, payload });
}

async function sendPush(loginId: string) {
  const started = await factor(loginId, { type: 'push' });
  expect(started.statusCode).toBe(200);
  return json(started) as { challengeId: string; number: string };
}

function poll(loginId: string) {
  return gw.app.inject({ method: 'GET', url: `/v1/auth/login/${loginId}?waitMs=0` });
}

async function statusOf(challengeId: string) {
  const row = await gw.ctx.store.db
    .selectFrom('push_challenges')
    .select('status')
    .where('id', '=', challengeId)
    .executeTakeFirstOrThrow();
  return row.status;
}

describe('one final state per push, on both screens', () => {
  it('a wrong number ends the push on the phone and the login screen alike, and a new push can be sent', async () => {
    const { phone } = await enrol();
    const device = await connect(phone);
    const loginId = await openLogin();
    const first = await sendPush(loginId);
    await eventually(() => device.pushes.length === 1);
    const wrong = first.number === '42' ? '43' : '42';
    device.stream.decide(device.pushes[0] as PushMessage, 'approve', wrong);
    await eventually(() => device.states.length === 1);
    expect(device.states).toEqual([{ challengeId: first.challengeId, status: 'wrong_number' }]);
    expect(errorCode(await poll(loginId))).toBe('WRONG_NUMBER');
    // That push is over: the login sends another, with its own prompt, and it approves.
    const second = await sendPush(loginId);
    expect(second.challengeId).not.toBe(first.challengeId);
    await eventually(() => device.pushes.length === 2);
    device.stream.decide(device.pushes[1] as PushMessage, 'approve');
    await eventually(() => device.states.length === 2);
    expect(device.states[1]).toEqual({ challengeId: second.challengeId, status: 'approved' });
    expect(json(await poll(loginId))).toMatchObject({ status: 'authenticated' });
  });

  it('a denial is final on both screens: the phone is told denied, and the login sends no further push', async () => {
    const { phone } = await enrol();
    const device = await connect(phone);
    const loginId = await openLogin();
    const push = await sendPush(loginId);
    await eventually(() => device.pushes.length === 1);
    device.stream.decide(device.pushes[0] as PushMessage, 'deny');
    await eventually(() => device.states.length === 1);
    expect(device.states).toEqual([{ challengeId: push.challengeId, status: 'denied' }]);
    expect(errorCode(await poll(loginId))).toBe('PUSH_DENIED');
    expect(errorCode(await factor(loginId, { type: 'push' }))).toBe('PUSH_DENIED');
    expect(device.pushes).toHaveLength(1);
  });
});

describe('a stale push is cancelled, and the phone told at once', () => {
  it('when its login completes with a TOTP code', async () => {
    const { phone } = await enrol();
    const device = await connect(phone);
    const loginId = await openLogin();
    const push = await sendPush(loginId);
    await eventually(() => device.pushes.length === 1);
    const done = await submitTotp(gw, loginId, totpCode(ALICE.totpSecret, gw.clock.now()));
    expect(done.statusCode).toBe(200);
    await eventually(() => device.states.length === 1);
    expect(device.states).toEqual([{ challengeId: push.challengeId, status: 'cancelled' }]);
    expect(await statusOf(push.challengeId)).toBe('cancelled');
    // The prompt can no longer approve anything.
    device.stream.decide(device.pushes[0] as PushMessage, 'approve');
    await eventually(() => device.other.some((m) => m.type === 'error'));
    expect(device.other.find((m) => m.type === 'error')).toMatchObject({
      error: { code: 'PUSH_CHALLENGE_INVALID' },
    });
    expect(await statusOf(push.challengeId)).toBe('cancelled');
  });

  it('when its login fails (its attempts spent on wrong codes), and not before', async () => {
    const { phone } = await enrol();
    const device = await connect(phone);
    const loginId = await openLogin();
    const push = await sendPush(loginId);
    await eventually(() => device.pushes.length === 1);
    // The push spent one attempt; the remaining ones go on wrong codes.
    const max = gw.ctx.config.login.maxFactorAttempts;
    for (let i = 1; i < max; i += 1) {
      expect(errorCode(await factor(loginId, { type: 'totp', code: '000000' }))).toBe('INVALID_CREDENTIALS');
      if (i < max - 1) expect(await statusOf(push.challengeId)).toBe('pending');
    }
    await eventually(() => device.states.length === 1);
    expect(device.states).toEqual([{ challengeId: push.challengeId, status: 'cancelled' }]);
    expect(errorCode(await poll(loginId))).toBe('LOGIN_INVALID');
  });

  it('when its person gives the login up ("Start again", or its page closed), which then cannot complete', async () => {
    const { phone } = await enrol();
    const device = await connect(phone);
    const loginId = await openLogin();
    const push = await sendPush(loginId);
    await eventually(() => device.pushes.length === 1);
    // A beacon: no body, no content type.
    const abandon = () => gw.app.inject({ method: 'POST', url: `/v1/auth/login/${loginId}/abandon` });
    expect((await abandon()).statusCode).toBe(204);
    await eventually(() => device.states.length === 1);
    expect(device.states).toEqual([{ challengeId: push.challengeId, status: 'cancelled' }]);
    expect(await statusOf(push.challengeId)).toBe('cancelled');
    expect(errorCode(await poll(loginId))).toBe('LOGIN_INVALID');
    const late = await submitTotp(gw, loginId, totpCode(ALICE.totpSecret, gw.clock.now()));
    expect(errorCode(late)).toBe('LOGIN_INVALID');
    // The same answer again, and for a login that does not exist; nothing more is told.
    expect((await abandon()).statusCode).toBe(204);
    const unknown = await gw.app.inject({ method: 'POST', url: `/v1/auth/login/${'x'.repeat(43)}/abandon` });
    expect(unknown.statusCode).toBe(204);
    expect(device.states).toHaveLength(1);
  });

  it('not by giving up another login: a login id is its own', async () => {
    const { phone } = await enrol();
    const device = await connect(phone);
    const loginId = await openLogin();
    const push = await sendPush(loginId);
    await eventually(() => device.pushes.length === 1);
    const other = await openLogin();
    expect((await gw.app.inject({ method: 'POST', url: `/v1/auth/login/${other}/abandon` })).statusCode).toBe(
      204,
    );
    expect(await statusOf(push.challengeId)).toBe('pending');
    expect(device.states).toEqual([]);
  });

  it('when it expires (no later than its login)', async () => {
    const { phone } = await enrol();
    const device = await connect(phone);
    const loginId = await openLogin();
    const push = await sendPush(loginId);
    await eventually(() => device.pushes.length === 1);
    const expiresAt = Date.parse((device.pushes[0] as PushMessage).expiresAt);
    expect(expiresAt).toBeLessThanOrEqual(gw.clock.now() + gw.ctx.config.login.transactionTtlMs);
    gw.clock.advance(expiresAt - gw.clock.now() + 1);
    await eventually(() => device.states.length === 1);
    expect(device.states).toEqual([{ challengeId: push.challengeId, status: 'expired' }]);
    expect(errorCode(await poll(loginId))).toBe('PUSH_EXPIRED');
  });

  it('when the login sends a newer push: the phone never holds two prompts for one login', async () => {
    const { phone } = await enrol();
    const device = await connect(phone);
    const loginId = await openLogin();
    const first = await sendPush(loginId);
    await eventually(() => device.pushes.length === 1);
    await sendPush(loginId);
    await eventually(() => device.states.length === 1 && device.pushes.length === 2);
    expect(device.states).toEqual([{ challengeId: first.challengeId, status: 'cancelled' }]);
  });

  it('leaves another login’s pending push alone', async () => {
    const { phone } = await enrol();
    const device = await connect(phone);
    const waiting = await openLogin();
    const push = await sendPush(waiting);
    const other = await openLogin();
    expect((await submitTotp(gw, other, totpCode(ALICE.totpSecret, gw.clock.now()))).statusCode).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(device.states).toEqual([]);
    expect(await statusOf(push.challengeId)).toBe('pending');
  });
});

describe('revoking a phone', () => {
  it('tells its stream it is revoked and closes it (4001); the phone cannot reconnect', async () => {
    const { phone, session } = await enrol();
    const device = await connect(phone);
    const closed = new Promise<number>((resolve) => device.stream.socket.once('close', resolve));
    const revoked = await callAs(gw, 'DELETE', `/v1/devices/${phone.deviceId}`, session);
    expect(revoked.statusCode).toBe(200);
    expect(await closed).toBe(4001);
    expect(device.other.map((m) => m.type)).toContain('revoked');
    await expect(connect(phone)).rejects.toThrow(/401/);
  });

  it('another user’s revocation leaves the phone’s stream open', async () => {
    const { phone } = await enrol();
    const device = await connect(phone);
    const bruno = await loginAs(gw, BRUNO);
    expect(errorCode(await callAs(gw, 'DELETE', `/v1/devices/${phone.deviceId}`, bruno))).toBe(
      'DEVICE_NOT_FOUND',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(device.stream.socket.readyState).toBe(device.stream.socket.OPEN);
  });
});

describe('the setup QR code and a test push', () => {
  it('links to the authenticator page on the configured public URL, whatever the Host header says', async () => {
    const proxied = await startTestGateway({
      config: { server: { publicUrl: 'https://gatehouse.example', trustedProxies: ['127.0.0.1'] } },
    });
    try {
      const session = await loginAs(proxied, ALICE);
      const response = await callAs(proxied, 'POST', '/v1/devices/mobile/enroll', session, undefined, {
        host: 'evil.example',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'http',
      });
      const body = json(response) as {
        activationLink: string;
        activationCode: string;
        activationUri: string;
      };
      const link = new URL(body.activationLink);
      expect(link.origin).toBe('https://gatehouse.example');
      expect(link.pathname).toBe('/authenticator');
      expect(link.searchParams.get('activate')).toBe(body.activationCode);
      expect(body.activationUri).toContain(encodeURIComponent('https://gatehouse.example'));
      expect(body.activationLink).not.toContain('evil');
    } finally {
      await proxied.close();
    }
  });

  it('reaches the phone, which answers it, and the desktop reads the outcome', async () => {
    const { phone, session } = await enrol();
    const device = await connect(phone);
    const sent = await callAs(gw, 'POST', `/v1/devices/${phone.deviceId}/test-push`, session);
    expect(sent.statusCode).toBe(200);
    const test = json(sent) as { challengeId: string; number: string };
    await eventually(() => device.pushes.length === 1);
    const push = device.pushes[0] as PushMessage;
    expect(push).toMatchObject({ challengeId: test.challengeId, number: test.number, purpose: 'test' });
    expect(push.context.requestingDevice).not.toMatch(/Mozilla/);
    const state = () => callAs(gw, 'GET', `/v1/devices/push/${test.challengeId}`, session);
    expect(json(await state())).toEqual({ challengeId: test.challengeId, status: 'pending' });
    device.stream.decide(push, 'approve');
    await eventually(() => device.states.length === 1);
    expect(json(await state())).toEqual({ challengeId: test.challengeId, status: 'approved' });
    // Another user can neither read it nor send a test push to this phone.
    const bruno = await loginAs(gw, BRUNO);
    expect(errorCode(await callAs(gw, 'GET', `/v1/devices/push/${test.challengeId}`, bruno))).toBe(
      'PUSH_CHALLENGE_INVALID',
    );
    expect(errorCode(await callAs(gw, 'POST', `/v1/devices/${phone.deviceId}/test-push`, bruno))).toBe(
      'DEVICE_NOT_FOUND',
    );
    // No session, no test push; nor from a page without the session's CSRF token.
    const anonymous = await gw.app.inject({ method: 'POST', url: `/v1/devices/${phone.deviceId}/test-push` });
    expect(anonymous.statusCode).toBe(401);
    const forged = await gw.app.inject({
      method: 'POST',
      url: `/v1/devices/${phone.deviceId}/test-push`,
      headers: { cookie: session.cookie },
    });
    expect(errorCode(forged)).toBe('CSRF_TOKEN_INVALID');
    expect(errorCode(await callAs(gw, 'GET', '/v1/devices/push/psh_unknown', session))).toBe(
      'PUSH_CHALLENGE_INVALID',
    );
    // A test push logs nobody in: approving it left no login to complete and no session behind.
    const sessions = await gw.ctx.store.db.selectFrom('sessions').select('id').execute();
    expect(sessions).toHaveLength(2);
  });

  it('sends none from a session asked to verify again (a move to another network)', async () => {
    const { phone, session } = await enrol();
    await gw.ctx.store.db
      .updateTable('sessions')
      .set({ step_up_required: 1 })
      .where('id', '=', session.sessionId)
      .execute();
    const refused = await callAs(gw, 'POST', `/v1/devices/${phone.deviceId}/test-push`, session);
    expect(errorCode(refused)).toBe('STEP_UP_REQUIRED');
    const count = await gw.ctx.store.db
      .selectFrom('push_challenges')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(0);
  });

  it('allows three test pushes in ten minutes, even to ten sent at once, and none to a revoked phone', async () => {
    const { phone, session } = await enrol();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        callAs(gw, 'POST', `/v1/devices/${phone.deviceId}/test-push`, session),
      ),
    );
    expect(answers.filter((a) => a.statusCode === 200)).toHaveLength(3);
    expect(answers.filter((a) => a.statusCode !== 200).map(errorCode)).toEqual(
      Array(7).fill('PUSH_LIMIT_REACHED'),
    );
    const fourth = await callAs(gw, 'POST', `/v1/devices/${phone.deviceId}/test-push`, session);
    expect(errorCode(fourth)).toBe('PUSH_LIMIT_REACHED');
    const count = await gw.ctx.store.db
      .selectFrom('push_challenges')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(3);
    gw.clock.advance(10 * 60_000);
    const fresh = await loginAs(gw, ALICE);
    expect((await callAs(gw, 'DELETE', `/v1/devices/${phone.deviceId}`, fresh)).statusCode).toBe(200);
    expect(errorCode(await callAs(gw, 'POST', `/v1/devices/${phone.deviceId}/test-push`, fresh))).toBe(
      'DEVICE_NOT_FOUND',
    );
  });
});

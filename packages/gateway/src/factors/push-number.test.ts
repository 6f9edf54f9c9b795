/**
 * Number matching against push bombing (ASVS 5.0 6.6.4, and 6.6.2: a push request approves only the login it was
 * made for). A wrong number denies the request, as Microsoft Authenticator does: picking numbers until one works
 * is not possible, the login needs a new push (and spends one of its second-factor attempts on the wrong one), and
 * the user is told, since a wrong number is what a tired user answering someone else's login does. On SQLite and
 * PostgreSQL.
 *
 * Before, a wrong number answered `WRONG_NUMBER` and left the request pending: the device could try the next
 * number, and a second decision with the right one approved the login.
 */
import { describe, expect, it } from 'vitest';
import {
  connectDevice,
  type DeviceIdentity,
  type DeviceStream,
  enrolDevice,
  signWithDevice,
} from '../authenticator/index.js';
import { sha256 } from '../core/index.js';
import { decisionMessage } from '../devices/index.js';
import { spendAttemptOnWrongNumber } from '../login/index.js';
import { type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  loginAs,
  startLogin,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import type { PushMessage } from './push.js';
import { decidePush } from './push.js';

async function withGateway(
  factory: TestDatabaseFactory,
  run: (gw: TestGateway, base: string) => Promise<void>,
) {
  const database = await factory();
  const gw = await startTestGateway({ database, config: { server: { port: 0, host: '127.0.0.1' } } });
  try {
    await run(gw, await gw.listen());
  } finally {
    await gw.close();
    await database.drop();
  }
}

async function enrol(gw: TestGateway, base: string, user = ALICE): Promise<DeviceIdentity> {
  const session = await loginAs(gw, user);
  const response = await callAs(gw, 'POST', '/v1/devices/mobile/enroll', session, undefined, {
    host: new URL(base).host,
  });
  const { activationUri } = json(response) as { activationUri: string };
  return enrolDevice(activationUri, { name: `${user.username}'s phone`, platform: 'test' });
}

async function openLogin(gw: TestGateway, user = ALICE): Promise<string> {
  gw.clock.advance(30_000);
  return (json(await startLogin(gw, user.username, user.password)) as { loginId: string }).loginId;
}

async function sendPush(gw: TestGateway, loginId: string) {
  const started = await gw.app.inject({
    method: 'POST',
    url: `/v1/auth/login/${loginId}/factor`,
    payload: { type: 'push' },
  });
  expect(started.statusCode).toBe(200);
  return json(started) as { challengeId: string; number: string };
}

function decideOverHttp(
  gw: TestGateway,
  device: DeviceIdentity,
  challengeId: string,
  number: string,
  decision: 'approve' | 'deny' = 'approve',
) {
  return gw.app.inject({
    method: 'POST',
    url: `/v1/devices/push/${challengeId}/decision`,
    payload: {
      deviceId: device.deviceId,
      decision,
      number,
      signature: signWithDevice(device.privateKey, decisionMessage(challengeId, decision, number)),
    },
  });
}

/** A two-digit number other than `number`. */
function otherNumber(number: string, offset = 1): string {
  return String(((Number(number) - 10 + offset) % 90) + 10);
}

function poll(gw: TestGateway, loginId: string) {
  return gw.app.inject({ method: 'GET', url: `/v1/auth/login/${loginId}?waitMs=0` });
}

async function challengeStatus(gw: TestGateway, challengeId: string) {
  return gw.ctx.store.db
    .selectFrom('push_challenges')
    .select(['status', 'device_id'])
    .where('id', '=', challengeId)
    .executeTakeFirstOrThrow();
}

describe.each(testDatabases())('push number matching on %s', (_name, factory) => {
  it('a wrong number denies the push: the right number cannot approve it afterwards, and the login needs a new push', async () => {
    await withGateway(factory, async (gw, base) => {
      const phone = await enrol(gw, base);
      const loginId = await openLogin(gw);
      const push = await sendPush(gw, loginId);
      expect(errorCode(await decideOverHttp(gw, phone, push.challengeId, otherNumber(push.number)))).toBe(
        'WRONG_NUMBER',
      );
      expect(await challengeStatus(gw, push.challengeId)).toEqual({
        status: 'wrong_number',
        device_id: phone.deviceId,
      });
      // Neither the right number nor another guess nor a denial changes it now.
      expect(errorCode(await decideOverHttp(gw, phone, push.challengeId, push.number))).toBe(
        'PUSH_CHALLENGE_INVALID',
      );
      expect(errorCode(await decideOverHttp(gw, phone, push.challengeId, otherNumber(push.number, 2)))).toBe(
        'PUSH_CHALLENGE_INVALID',
      );
      expect(errorCode(await decideOverHttp(gw, phone, push.challengeId, push.number, 'deny'))).toBe(
        'PUSH_CHALLENGE_INVALID',
      );
      // The login screen learns it, and the login stays open: the push and the wrong number each spent an attempt.
      expect(errorCode(await poll(gw, loginId))).toBe('WRONG_NUMBER');
      const tx = await gw.ctx.store.db
        .selectFrom('login_transactions')
        .select(['attempts', 'completed_at'])
        .where('handle_hash', '=', sha256(loginId))
        .executeTakeFirstOrThrow();
      expect(tx).toEqual({ attempts: 2, completed_at: null });

      // A new push, with its own number, can approve this login.
      gw.clock.advance(1_000);
      const again = await sendPush(gw, loginId);
      expect(again.challengeId).not.toBe(push.challengeId);
      expect((await decideOverHttp(gw, phone, again.challengeId, again.number)).statusCode).toBe(200);
      const done = await poll(gw, loginId);
      expect(json(done)).toMatchObject({ status: 'authenticated', session: { amr: ['pwd', 'mca'] } });
    });
  });

  it('audits a wrong number and tells the user, with where the login came from', async () => {
    await withGateway(factory, async (gw, base) => {
      const phone = await enrol(gw, base);
      const loginId = await openLogin(gw);
      const push = await sendPush(gw, loginId);
      await decideOverHttp(gw, phone, push.challengeId, otherNumber(push.number));
      const audit = await gw.ctx.store.db
        .selectFrom('audit_log')
        .select(['type', 'data'])
        .where('type', 'like', 'push.%')
        .execute();
      expect(audit.map((a) => a.type)).toEqual(['push.sent', 'push.wrong_number']);
      expect(JSON.parse(audit[1]?.data ?? '{}')).toMatchObject({
        challengeId: push.challengeId,
        deviceId: phone.deviceId,
      });
      const notes = await gw.ctx.store.db.selectFrom('notifications').select(['kind', 'data']).execute();
      const note = notes.find((n) => n.kind === 'push_wrong_number');
      expect(JSON.parse(note?.data ?? '{}')).toMatchObject({
        deviceId: phone.deviceId,
        channel: 'web',
        ip: '127.0.0.1',
        network: '127.0.0.0/24',
      });
    });
  });

  it('denies the push when the device stream sends a wrong number, and answers the device with WRONG_NUMBER', async () => {
    await withGateway(factory, async (gw, base) => {
      const phone = await enrol(gw, base);
      const frames: { type: string; challengeId?: string; error?: { code: string } }[] = [];
      let received: (p: PushMessage) => void = () => {};
      const arrived = new Promise<PushMessage>((r) => {
        received = r;
      });
      const stream: DeviceStream = await connectDevice(phone, {
        onPush: (p) => received(p),
        onMessage: (m) => frames.push(m as (typeof frames)[number]),
        now: gw.clock.now(),
      });
      try {
        const loginId = await openLogin(gw);
        await sendPush(gw, loginId);
        const push = await arrived;
        stream.decide(push, 'approve', otherNumber(push.number));
        await expect
          .poll(
            () => frames.find((f) => f.type === 'error' && f.challengeId === push.challengeId)?.error?.code,
          )
          .toBe('WRONG_NUMBER');
        expect((await challengeStatus(gw, push.challengeId)).status).toBe('wrong_number');
        stream.decide(push, 'approve');
        await expect
          .poll(() => frames.filter((f) => f.type === 'error').map((f) => f.error?.code))
          .toEqual(['WRONG_NUMBER', 'PUSH_CHALLENGE_INVALID']);
        expect(errorCode(await poll(gw, loginId))).toBe('WRONG_NUMBER');
      } finally {
        stream.close();
      }
    });
  });

  it('applies exactly one of several decisions sent at once with different numbers', async () => {
    await withGateway(factory, async (gw, base) => {
      const phone = await enrol(gw, base);
      const loginId = await openLogin(gw);
      const push = await sendPush(gw, loginId);
      const numbers = [otherNumber(push.number, 1), push.number, otherNumber(push.number, 2)];
      const outcomes = await Promise.allSettled(
        numbers.map((number) =>
          decidePush(
            { db: gw.ctx.store.db, clock: gw.clock, spendLoginAttempt: spendAttemptOnWrongNumber },
            {
              deviceId: phone.deviceId,
              challengeId: push.challengeId,
              decision: 'approve',
              number,
              signature: signWithDevice(
                phone.privateKey,
                decisionMessage(push.challengeId, 'approve', number),
              ),
            },
          ),
        ),
      );
      const applied = outcomes.filter((o) => o.status === 'fulfilled').map((o) => o.value.status);
      const stored = (await challengeStatus(gw, push.challengeId)).status;
      // The one applied is what the challenge holds; the others found it decided.
      expect([...applied, stored].every((s) => s === stored)).toBe(true);
      expect(applied.length).toBeLessThanOrEqual(1);
      const refusals = outcomes
        .filter((o): o is PromiseRejectedResult => o.status === 'rejected')
        .map((o) => (o.reason as { code: string }).code);
      expect(refusals.every((c) => c === 'PUSH_CHALLENGE_INVALID' || c === 'WRONG_NUMBER')).toBe(true);
      expect(refusals.filter((c) => c === 'WRONG_NUMBER').length + applied.length).toBe(1);
    });
  });

  it('bounds push bombing: a push spends a login attempt, and a user gets 10 an hour before each waits', async () => {
    await withGateway(factory, async (gw, base) => {
      await enrol(gw, base);
      const pushes = async () =>
        (await gw.ctx.store.db.selectFrom('push_challenges').select('id').execute()).length;
      // One login: its five second-factor attempts are five pushes, then the login is spent.
      const loginId = await openLogin(gw);
      for (let i = 0; i < 5; i += 1) await sendPush(gw, loginId);
      const sixth = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${loginId}/factor`,
        payload: { type: 'push' },
      });
      expect(errorCode(sixth)).toBe('LOGIN_INVALID');
      expect(await pushes()).toBe(5);
      // Fresh logins, 20 pushes at once: 5 more go out (10 within the hour), the rest wait, and nothing else is sent.
      const logins = await Promise.all(Array.from({ length: 5 }, () => openLogin(gw)));
      const burst = await Promise.all(
        logins.flatMap((id) =>
          Array.from({ length: 4 }, () =>
            gw.app.inject({ method: 'POST', url: `/v1/auth/login/${id}/factor`, payload: { type: 'push' } }),
          ),
        ),
      );
      const codes = burst.map((r) => (r.statusCode === 200 ? 'sent' : errorCode(r)));
      expect(codes.filter((c) => c === 'sent')).toHaveLength(5);
      expect(codes.filter((c) => c === 'PUSH_LIMIT_REACHED')).toHaveLength(15);
      expect(await pushes()).toBe(10);
      const refused = burst.find((r) => r.statusCode === 429);
      expect(json(refused as never)).toMatchObject({
        error: { code: 'PUSH_LIMIT_REACHED', details: { retryAfterMs: 60_000 } },
      });
      // Refused pushes spent no attempt of their logins; after the wait one more goes out, then two minutes.
      const spent = await gw.ctx.store.db
        .selectFrom('login_transactions')
        .select('attempts')
        .where('completed_at', 'is', null) // not the enrolling session's own login
        .execute();
      expect(spent.reduce((n, t) => n + Number(t.attempts), 0)).toBe(10);
      gw.clock.advance(60_000);
      const later = await openLogin(gw);
      await sendPush(gw, later);
      const next = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${later}/factor`,
        payload: { type: 'push' },
      });
      expect(json(next)).toMatchObject({
        error: { code: 'PUSH_LIMIT_REACHED', details: { retryAfterMs: 120_000 } },
      });
    });
  });

  it('a denial is final (no further push for the login); another user’s device cannot decide', async () => {
    await withGateway(factory, async (gw, base) => {
      const phone = await enrol(gw, base);
      const brunosPhone = await enrol(gw, base, BRUNO);
      const loginId = await openLogin(gw);
      const push = await sendPush(gw, loginId);
      expect(
        errorCode(await decideOverHttp(gw, brunosPhone, push.challengeId, otherNumber(push.number))),
      ).toBe('PUSH_CHALLENGE_INVALID');
      expect((await challengeStatus(gw, push.challengeId)).status).toBe('pending');
      expect(
        (await decideOverHttp(gw, phone, push.challengeId, otherNumber(push.number), 'deny')).statusCode,
      ).toBe(200);
      expect(errorCode(await poll(gw, loginId))).toBe('PUSH_DENIED');
      expect(errorCode(await poll(gw, loginId))).toBe('PUSH_DENIED');
      const again = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${loginId}/factor`,
        payload: { type: 'push' },
      });
      expect(errorCode(again)).toBe('PUSH_DENIED');
    });
  });
});

/**
 * The failure sandbox's control over HTTP: a person's own session on `/v1/sandbox/faults`, the operator's token on
 * `/v1/admin/sandbox/faults`, the `sandbox` flag of `/readyz` and `/v1/session`, and every refusal — no credentials,
 * a wrong token, another user's target or fault, a viewer's account, a program's token, bad input — each leaving
 * nothing injected. A gateway with the sandbox off answers 404 on every one of these paths.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  loginTrading,
  startTestGateway,
  type TestGateway,
  VIKTOR,
} from '../test-support/gateway.js';
import { ADMIN_TOKEN, botToken, registerBot } from '../test-support/program.js';
import { SoftwareAuthenticator } from '../test-support/webauthn.js';

const FAULTS = '/v1/sandbox/faults';
const ADMIN_FAULTS = '/v1/admin/sandbox/faults';
const ELSEWHERE = '203.0.113.5';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

async function start(sandbox = true) {
  gw = await startTestGateway({
    config: { sandbox: { enabled: sandbox }, secrets: { adminApiToken: ADMIN_TOKEN } },
  });
  return gw;
}

async function userId(username: string): Promise<string> {
  const row = await gw.ctx.store.db
    .selectFrom('users')
    .select('id')
    .where('username', '=', username)
    .executeTakeFirstOrThrow();
  return row.id;
}

function operator(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown, token = ADMIN_TOKEN) {
  return gw.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

/** Every fault in the registry, whoever injected it. */
async function everyFault() {
  return (json(await operator('GET', ADMIN_FAULTS)) as { faults: { id: string; state: string }[] }).faults;
}

describe('the sandbox control routes', () => {
  it('are not served while the sandbox is off: 404 on every path, and no sandbox flag anywhere', async () => {
    await start(false);
    const alice = await loginAs(gw, ALICE);
    for (const method of ['GET', 'POST', 'DELETE'] as const) {
      const own = await callAs(
        gw,
        method,
        FAULTS,
        alice,
        method === 'POST' ? { kind: 'sms.lost' } : undefined,
      );
      expect(own.statusCode, method).toBe(404);
      expect((await operator(method, ADMIN_FAULTS)).statusCode, method).toBe(404);
    }
    expect(json(await gw.app.inject({ method: 'GET', url: '/readyz' }))).not.toHaveProperty('sandbox');
    expect(json(await callAs(gw, 'GET', '/v1/session', alice))).not.toHaveProperty('sandbox');
    const document = json(await gw.app.inject({ method: 'GET', url: '/openapi.json' }));
    expect(
      Object.keys(document.paths as object).filter((p) => p.startsWith('/v1/') && p.includes('sandbox')),
    ).toEqual([]);
  });

  it('flag a gateway whose sandbox is on in /readyz and /v1/session', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    expect(json(await gw.app.inject({ method: 'GET', url: '/readyz' }))).toEqual({
      status: 'ready',
      database: 'sqlite',
      sandbox: true,
    });
    // Twice: the second answer comes from the cached session's serialised head.
    for (let i = 0; i < 2; i += 1)
      expect(json(await callAs(gw, 'GET', '/v1/session', alice))).toMatchObject({
        sandbox: true,
        session: { id: alice.sessionId },
      });
  });

  it('let a person inject on their own user, session and account, list, and clear one or all', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const aliceId = await userId(ALICE.username);
    const sms = await callAs(gw, 'POST', FAULTS, alice, {
      kind: 'sms.lost',
      target: { type: 'user', id: aliceId },
    });
    expect(sms.statusCode).toBe(201);
    gw.clock.advance(1); // fault ids are ordered by time: the list's order is then known
    expect(json(sms)).toMatchObject({
      kind: 'sms.lost',
      family: 'factors',
      mode: 'condition',
      state: 'active',
      target: { type: 'user', id: aliceId },
      hits: 0,
      endsAt: null,
      createdBy: `user:${aliceId}`,
    });
    const latency = await callAs(gw, 'POST', FAULTS, alice, {
      kind: 'http.latency',
      target: { type: 'session', id: alice.sessionId },
      params: { ms: 5 },
      schedule: { durationMs: 60_000 },
      note: 'slow link',
    });
    expect(latency.statusCode).toBe(201);
    expect(json(latency)).toMatchObject({ params: { ms: 5, jitterMs: 0 }, note: 'slow link' });
    gw.clock.advance(1);
    const frozen = await callAs(gw, 'POST', FAULTS, alice, {
      kind: 'account.frozen',
      target: { type: 'account', id: 'DU1000001' },
      schedule: { afterMs: 10_000 },
    });
    expect(json(frozen)).toMatchObject({ state: 'scheduled' });

    const listed = json(await callAs(gw, 'GET', FAULTS, alice)) as { faults: { id: string }[] };
    expect(listed.faults.map((f) => f.id)).toEqual([frozen, latency, sms].map((r) => json(r).id));
    const cleared = await callAs(gw, 'DELETE', `${FAULTS}?id=${String(json(sms).id)}`, alice);
    expect(json(cleared)).toEqual({ cleared: 1 });
    const active = json(await callAs(gw, 'GET', `${FAULTS}?state=active`, alice)) as { faults: unknown[] };
    expect(active.faults).toHaveLength(2);
    expect(json(await callAs(gw, 'DELETE', FAULTS, alice))).toEqual({ cleared: 2 });
    expect(json(await callAs(gw, 'GET', `${FAULTS}?state=active`, alice))).toEqual({ faults: [] });
    const all = json(await callAs(gw, 'GET', `${FAULTS}?state=all`, alice)) as {
      faults: { state: string }[];
    };
    expect(all.faults.map((f) => f.state)).toEqual(['cleared', 'cleared', 'cleared']);
    expect(gw.ctx.faults.armed).toBe(false);
    const audit = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select('type')
      .where('type', 'like', 'sandbox.%')
      .execute();
    expect(audit.filter((a) => a.type === 'sandbox.fault_injected')).toHaveLength(3);
    expect(audit.filter((a) => a.type === 'sandbox.fault_cleared')).toHaveLength(2);
  });

  it('refuse another user’s user, session, client and account, everyone and instruments: nothing injected', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const bruno = await loginAs(gw, BRUNO);
    const brunoBot = await registerBot(gw, bruno, { accounts: ['U2000002'] });
    const targets = [
      { type: 'user', id: await userId(BRUNO.username) },
      { type: 'session', id: bruno.sessionId },
      { type: 'client', id: brunoBot.clientId },
      { type: 'account', id: 'U2000002' },
      { type: 'all' },
      { type: 'instrument', id: 'AAPL' },
    ];
    for (const target of targets) {
      const refused = await callAs(gw, 'POST', FAULTS, alice, { kind: 'sms.lost', target });
      expect(refused.statusCode, target.type).toBe(403);
      expect(errorCode(refused), target.type).toBe('FORBIDDEN');
    }
    expect(await everyFault()).toEqual([]);
    expect(gw.ctx.faults.armed).toBe(false);
  });

  it('refuse a viewer faults on the account they only view', async () => {
    await start();
    const viktor = await loginAs(gw, VIKTOR);
    const refused = await callAs(gw, 'POST', FAULTS, viktor, {
      kind: 'account.closing_only',
      target: { type: 'account', id: 'U1000001' },
    });
    expect(errorCode(refused)).toBe('FORBIDDEN');
    expect(await everyFault()).toEqual([]);
  });

  it('let no one clear or see another user’s fault', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const bruno = await loginAs(gw, BRUNO);
    const own = json(
      await callAs(gw, 'POST', FAULTS, alice, {
        kind: 'sms.lost',
        target: { type: 'user', id: await userId('alice') },
      }),
    );
    const refused = await callAs(gw, 'DELETE', `${FAULTS}?id=${String(own.id)}`, bruno);
    expect(errorCode(refused)).toBe('FORBIDDEN');
    // Bruno's "clear all" clears his own faults only: none.
    expect(json(await callAs(gw, 'DELETE', FAULTS, bruno))).toEqual({ cleared: 0 });
    expect(json(await callAs(gw, 'GET', FAULTS, bruno))).toEqual({ faults: [] });
    expect(errorCode(await callAs(gw, 'DELETE', `${FAULTS}?id=flt_nothing`, bruno))).toBe('NOT_FOUND');
    expect((await everyFault()).map((f) => f.state)).toEqual(['active']);
  });

  it('answer 401 without credentials or with a wrong operator token, and refuse programs', async () => {
    await start();
    for (const method of ['GET', 'POST', 'DELETE'] as const) {
      const payload = method === 'POST' ? { kind: 'maintenance', target: { type: 'all' } } : undefined;
      const bare = await gw.app.inject({ method, url: FAULTS, ...(payload ? { payload } : {}) });
      expect(errorCode(bare), method).toBe('UNAUTHENTICATED');
      const bareAdmin = await gw.app.inject({ method, url: ADMIN_FAULTS, ...(payload ? { payload } : {}) });
      expect(errorCode(bareAdmin), method).toBe('UNAUTHENTICATED');
      const wrong = await operator(method, ADMIN_FAULTS, payload, 'b'.repeat(40));
      expect(wrong.statusCode, method).toBe(401);
      // The operator's token is not a session: the person's path does not take it.
      expect(errorCode(await operator(method, FAULTS, payload)), method).toBe('UNAUTHENTICATED');
    }
    // A person's session is not an operator.
    const alice = await loginAs(gw, ALICE);
    const asCookie = await callAs(gw, 'GET', ADMIN_FAULTS, alice);
    expect(errorCode(asCookie)).toBe('UNAUTHENTICATED');
    // A web session without its CSRF token.
    const noCsrf = await gw.app.inject({
      method: 'POST',
      url: FAULTS,
      headers: { cookie: alice.cookie },
      payload: { kind: 'sms.lost', target: { type: 'user', id: await userId('alice') } },
    });
    expect(errorCode(noCsrf)).toBe('CSRF_TOKEN_INVALID');
    // A bot does not inject faults, not even on its own client.
    const bot = await registerBot(gw, alice);
    const token = await botToken(bot);
    const fromBot = await bot.call('POST', FAULTS, token, {
      kind: 'http.error',
      target: { type: 'client', id: bot.clientId },
      params: { status: 503 },
    });
    expect(fromBot.statusCode).toBe(403);
    expect(errorCode(fromBot)).toBe('API_NOT_ALLOWED');
    expect(errorCode(await bot.call('GET', FAULTS, token))).toBe('API_NOT_ALLOWED');
    expect(await everyFault()).toEqual([]);
  });

  it('refuse bad input naming the field, and inject nothing', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const me = { type: 'session', id: alice.sessionId };
    const cases: [unknown, string][] = [
      [{ kind: 'push.exploded', target: me }, 'kind'],
      [{ target: me }, 'kind'],
      [{ kind: 'push.late', target: me }, 'params.delayMs'],
      [{ kind: 'push.late', target: me, params: { delayMs: 'soon' } }, 'params.delayMs'],
      [{ kind: 'marketdata.revoked', target: { type: 'account', id: 'DU1000001' } }, 'params.bundle'],
      [{ kind: 'sms.lost', target: { type: 'session' } }, 'target.id'],
      [{ kind: 'sms.lost', target: { type: 'session', id: 'ses_nobody' } }, 'target.id'],
      [{ kind: 'sms.lost', target: me, schedule: { durationMs: -1 } }, 'schedule.durationMs'],
      [{ kind: 'sms.lost', target: me, extra: true }, ''],
      [{ kind: 'sms.lost', target: me, note: 'x'.repeat(201) }, 'note'],
    ];
    for (const [payload, field] of cases) {
      const refused = await callAs(gw, 'POST', FAULTS, alice, payload);
      expect(refused.statusCode, JSON.stringify(payload)).toBe(400);
      expect(errorCode(refused)).toBe('INVALID_REQUEST');
      const { message } = (json(refused) as { error: { message: string } }).error;
      if (field !== '') expect(message.startsWith(`${field}: `), `${message} names ${field}`).toBe(true);
    }
    const notJson = await gw.app.inject({
      method: 'POST',
      url: FAULTS,
      headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrf, 'content-type': 'application/json' },
      payload: '[1,',
    });
    expect(notJson.statusCode).toBe(400);
    const badState = await callAs(gw, 'GET', `${FAULTS}?state=finished`, alice);
    expect(errorCode(badState)).toBe('INVALID_REQUEST');
    expect((json(badState) as { error: { message: string } }).error.message).toMatch(/^state: /);
    expect(errorCode(await operator('GET', `${ADMIN_FAULTS}?state=finished`))).toBe('INVALID_REQUEST');
    expect(errorCode(await callAs(gw, 'DELETE', `${FAULTS}?id=`, alice))).toBe('INVALID_REQUEST');
    expect(errorCode(await operator('POST', ADMIN_FAULTS, { kind: 'maintenance' }))).toBe('INVALID_REQUEST');
    expect(await everyFault()).toEqual([]);
  });

  it('let a competing session and one waiting for a step-up inject, list and clear: still the person’s own', async () => {
    await start();
    const aliceId = await userId(ALICE.username);
    const first = await loginTrading(gw, ALICE);
    await loginTrading(gw, ALICE); // takes trading over: the first session is competing
    const state = json(await callAs(gw, 'POST', '/v1/session/tickle', first));
    expect(state).toMatchObject({ competing: true, tier: 'read_only' });
    const fromCompeting = await callAs(gw, 'POST', FAULTS, first, {
      kind: 'sms.late',
      target: { type: 'user', id: aliceId },
      params: { delayMs: 2_000 },
    });
    expect(fromCompeting.statusCode).toBe(201);

    // A request from another network: the session now waits for a step-up.
    const moved = (method: 'GET' | 'POST' | 'DELETE', url: string, as: LoggedIn, payload?: unknown) =>
      gw.app.inject({
        method,
        url,
        remoteAddress: ELSEWHERE,
        headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });
    const third = await loginAs(gw, ALICE);
    expect(json(await moved('POST', '/v1/session/tickle', third))).toMatchObject({ stepUpRequired: true });
    const fromMoved = await moved('POST', FAULTS, third, {
      kind: 'stream.stalled',
      target: { type: 'session', id: third.sessionId },
    });
    expect(fromMoved.statusCode).toBe(201);
    expect((json(await moved('GET', FAULTS, third)) as { faults: unknown[] }).faults).toHaveLength(2);
    expect(json(await moved('DELETE', FAULTS, third))).toEqual({ cleared: 2 });
  });

  it('take a desktop session’s bearer token as the person’s own', async () => {
    await start();
    const key = new SoftwareAuthenticator({ origin: 'http://localhost:8080', rpId: 'localhost' });
    const web = await loginAs(gw, ALICE);
    const options = json(await callAs(gw, 'POST', '/v1/factors/webauthn/options', web));
    const enrolled = await callAs(gw, 'POST', '/v1/factors/webauthn', web, {
      label: 'YubiKey',
      response: key.create(options as { challenge: string }),
    });
    expect(enrolled.statusCode).toBe(200);
    const post = (url: string, payload: unknown) =>
      gw.app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> });
    const started = json(
      await post('/v1/auth/login', {
        channel: 'desktop',
        username: ALICE.username,
        password: ALICE.password,
      }),
    ) as { loginId: string };
    const assertion = json(await post(`/v1/auth/login/${started.loginId}/webauthn/options`, {}));
    const done = json(
      await post(`/v1/auth/login/${started.loginId}/factor`, {
        type: 'webauthn',
        response: key.get(assertion as { challenge: string; allowCredentials: unknown[] }),
      }),
    ) as { token: string; session: { id: string } };
    // A desktop session that has not registered its device key yet is taken on its token alone.
    const injected = await gw.app.inject({
      method: 'POST',
      url: FAULTS,
      headers: { authorization: `Bearer ${done.token}` },
      payload: { kind: 'stream.events_withheld', target: { type: 'session', id: done.session.id } },
    });
    expect(injected.statusCode).toBe(201);
    expect(json(injected)).toMatchObject({ target: { type: 'session', id: done.session.id } });
  });

  it('let the operator inject on anyone, list everything and clear anyone’s', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const own = json(
      await callAs(gw, 'POST', FAULTS, alice, {
        kind: 'sms.lost',
        target: { type: 'user', id: await userId('alice') },
      }),
    );
    gw.clock.advance(1);
    const everyone = await operator('POST', ADMIN_FAULTS, {
      kind: 'maintenance',
      target: { type: 'all' },
      params: { retryAfterS: 5 },
      schedule: { afterMs: 60_000, durationMs: 10_000 },
    });
    expect(everyone.statusCode).toBe(201);
    expect(json(everyone)).toMatchObject({ state: 'scheduled', createdBy: 'admin_api' });
    const clash = await operator('POST', ADMIN_FAULTS, {
      kind: 'maintenance',
      target: { type: 'all' },
      schedule: { afterMs: 65_000 },
    });
    expect(errorCode(clash)).toBe('FAULT_CONFLICT');
    expect((await everyFault()).map((f) => f.id)).toEqual([json(everyone).id, own.id]);
    // The person does not see the operator's fault in their list.
    expect((json(await callAs(gw, 'GET', FAULTS, alice)) as { faults: unknown[] }).faults).toHaveLength(1);
    expect(json(await operator('DELETE', `${ADMIN_FAULTS}?id=${String(own.id)}`))).toEqual({ cleared: 1 });
    expect(json(await operator('DELETE', ADMIN_FAULTS))).toEqual({ cleared: 1 });
    expect(errorCode(await operator('DELETE', `${ADMIN_FAULTS}?id=flt_nothing`))).toBe('NOT_FOUND');
  });

  it('are described in /openapi.json with their credentials, in a valid document', async () => {
    await start();
    const document = json(await gw.app.inject({ method: 'GET', url: '/openapi.json' }));
    const validator = new Validator();
    expect((await validator.validate(document)).errors).toBeUndefined();
    const paths = document.paths as Record<string, Record<string, { security?: unknown[]; tags?: string[] }>>;
    for (const method of ['get', 'post', 'delete']) {
      expect(paths[FAULTS]?.[method]?.tags).toEqual(['sandbox']);
      expect(JSON.stringify(paths[FAULTS]?.[method]?.security)).toContain('sessionCookie');
      expect(paths[ADMIN_FAULTS]?.[method]?.tags).toEqual(['admin']);
      expect(JSON.stringify(paths[ADMIN_FAULTS]?.[method]?.security)).not.toContain('sessionCookie');
    }
  });
});

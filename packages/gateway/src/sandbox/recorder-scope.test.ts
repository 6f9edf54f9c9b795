/**
 * What a drill's recording may hold and who may take its room (docs/sandbox.md, "The recording"): only its
 * subject's activity (a shared app's other users stay out), the faults that acted on it however many others exist,
 * only the faults its reader injected or an operator did (no one else's note), and each user's own bounded slots.
 */
import type { Recording } from '@gatehouse/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { INSTRUMENTS } from '../instruments/index.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  startTestGateway,
  type TestGateway,
  VIKTOR,
} from '../test-support/gateway.js';
import {
  ADMIN_TOKEN,
  authorizeApp,
  botToken,
  copyOf,
  exchangeCode,
  registerApp,
  registerBot,
} from '../test-support/program.js';
import { subjectFaults } from './recorder-faults.js';

const RECORDINGS = '/v1/sandbox/recordings';
const ADMIN_RECORDINGS = '/v1/admin/sandbox/recordings';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

async function start() {
  gw = await startTestGateway({
    config: { sandbox: { enabled: true }, secrets: { adminApiToken: ADMIN_TOKEN } },
  });
  return gw;
}

function operator(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) {
  return gw.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

async function userIdOf(as: LoggedIn): Promise<string> {
  return (json(await callAs(gw, 'GET', '/v1/session', as)) as { user: { id: string } }).user.id;
}

async function read(as: LoggedIn, id: string): Promise<Recording> {
  const response = await callAs(gw, 'GET', `${RECORDINGS}/${id}`, as);
  expect(response.statusCode).toBe(200);
  return json(response) as unknown as Recording;
}

describe('a recording of a shared app', () => {
  it('holds only its subject’s requests, token requests, dead-man changes and sessions, never another user’s', async () => {
    await start();
    const app = await registerApp(gw);
    const alice = await loginAs(gw, ALICE);
    const bruno = await loginAs(gw, BRUNO);
    const [aliceId, brunoId] = [await userIdOf(alice), await userIdOf(bruno)];

    // Bruno approves the app for his account (his own instance), Alice for her paper account.
    const brunoApp = copyOf(app);
    const b = await authorizeApp(brunoApp, bruno, ['U2000002']);
    const brunoTokens = (await exchangeCode(brunoApp, b.code, b.verifier)).json() as {
      access_token: string;
      refresh_token: string;
    };
    const a = await authorizeApp(app, alice, ['DU1000001']);
    const aliceTokens = (await exchangeCode(app, a.code, a.verifier)).json() as {
      access_token: string;
      refresh_token: string;
    };

    const started = await callAs(gw, 'POST', RECORDINGS, alice, {
      clientId: app.clientId,
      accountId: 'DU1000001',
    });
    expect(started.statusCode).toBe(201);
    const { id, subject } = json(started) as { id: string; subject: { userId: string } };
    expect(subject.userId).toBe(aliceId);

    // Bruno's use of the app: reads, a dead-man switch, a refresh.
    expect(
      (await brunoApp.call('GET', '/v1/accounts/U2000002/orders', brunoTokens.access_token)).statusCode,
    ).toBe(200);
    const armed = await brunoApp.call('PUT', '/v1/safety/dead-man', brunoTokens.access_token, {
      timeoutMs: 45_000,
      scope: 'session',
    });
    expect(armed.statusCode).toBe(200);
    const refreshed = await brunoApp.form('/oauth2/token', {
      grant_type: 'refresh_token',
      refresh_token: brunoTokens.refresh_token,
    });
    expect(refreshed.statusCode).toBe(200);
    // Alice's own use of it.
    expect((await app.call('GET', '/v1/session', aliceTokens.access_token)).statusCode).toBe(200);
    const aliceRefresh = await app.form('/oauth2/token', {
      grant_type: 'refresh_token',
      refresh_token: aliceTokens.refresh_token,
    });
    expect(aliceRefresh.statusCode).toBe(200);
    // Bruno's first token, past its expiry: refused for its token, still Bruno's, not Alice's.
    gw.clock.advance(gw.ctx.config.oauth.accessTokenTtlMs + 1_000);
    expect(
      errorCode(await brunoApp.call('GET', '/v1/accounts/U2000002/orders', brunoTokens.access_token)),
    ).toBe('INVALID_TOKEN');

    const again = await loginAs(gw, ALICE);
    const recording = await read(again, id);
    const aliceSession = recording.requests[0]?.sessionId;
    expect(recording.requests.map((r) => [r.route, r.status, r.sessionId])).toEqual([
      ['/v1/session', 200, aliceSession],
    ]);
    expect(recording.sessions).toEqual([aliceSession]);
    expect(recording.deadMan).toEqual([]);
    expect(recording.tokenRequests).toEqual([
      expect.objectContaining({ grantType: 'refresh_token', outcome: 'issued', retry: false }),
    ]);
    expect(JSON.stringify(recording)).not.toContain('U2000002');

    // The operator names whose use of an app to record: required for an app, and that user's grant must name the
    // account.
    const unnamed = await operator('POST', ADMIN_RECORDINGS, {
      clientId: app.clientId,
      accountId: 'U2000002',
    });
    expect(errorCode(unnamed)).toBe('INVALID_REQUEST');
    expect(JSON.stringify(json(unnamed))).toContain('userId');
    const wrongUser = await operator('POST', ADMIN_RECORDINGS, {
      clientId: app.clientId,
      accountId: 'U2000002',
      userId: aliceId,
    });
    expect(errorCode(wrongUser)).toBe('INVALID_REQUEST');
    const named = await operator('POST', ADMIN_RECORDINGS, {
      clientId: app.clientId,
      accountId: 'U2000002',
      userId: brunoId,
    });
    expect(named.statusCode).toBe(201);
    expect((json(named) as { subject: { userId: string } }).subject.userId).toBe(brunoId);

    // A person records only themselves: Bruno's account through the app is not Alice's to record.
    const notHers = await callAs(gw, 'POST', RECORDINGS, again, {
      clientId: app.clientId,
      accountId: 'U2000002',
    });
    expect(errorCode(notHers)).toBe('INVALID_REQUEST');
    const asBruno = await callAs(gw, 'POST', RECORDINGS, again, {
      clientId: app.clientId,
      accountId: 'DU1000001',
      userId: brunoId,
    });
    expect(errorCode(asBruno)).toBe('FORBIDDEN');
  });
});

/** Rows of past faults of `owner` on `target`, written as the registry writes them (done, long before `before`). */
async function pastFaults(
  count: number,
  owner: string,
  target: { type: string; id: string },
  before: number,
) {
  const rows = Array.from({ length: count }, (_, i) => ({
    id: `flt_past${String(i).padStart(6, '0')}`,
    kind: 'sms.lost',
    target_type: target.type,
    target_id: target.id,
    params: '{}',
    schedule: '{}',
    state: 'done' as const,
    starts_at: before - 3_600_000 + i,
    ends_at: before - 1_800_000,
    hits: 0,
    owner_user_id: owner,
    created_by: `user:${owner}`,
    created_at: before - 3_600_000 + i,
    note: null,
  }));
  for (let i = 0; i < rows.length; i += 200)
    await gw.ctx.store.db
      .insertInto('sandbox_faults')
      .values(rows.slice(i, i + 200))
      .execute();
}

describe('the faults a recording lists', () => {
  it('are those acting on its subject during it, however many other faults were ever injected', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const bruno = await loginAs(gw, BRUNO);
    const bot = await registerBot(gw, alice);
    // Another user's 1,200 past faults on himself, before the recording starts.
    await pastFaults(
      1_200,
      await userIdOf(bruno),
      { type: 'user', id: await userIdOf(bruno) },
      gw.clock.now(),
    );
    const started = await callAs(gw, 'POST', RECORDINGS, alice, {
      clientId: bot.clientId,
      accountId: 'DU1000001',
    });
    const { id } = json(started) as { id: string };
    gw.clock.advance(1_000);
    const fault = await callAs(gw, 'POST', '/v1/sandbox/faults', alice, {
      kind: 'order.rejected',
      target: { type: 'client', id: bot.clientId },
      schedule: { durationMs: 5_000 },
    });
    expect(fault.statusCode).toBe(201);
    gw.clock.advance(1_000);
    const recording = await read(alice, id);
    expect(recording.faults.map((f) => [f.id, f.kind])).toEqual([
      [(json(fault) as { id: string }).id, 'order.rejected'],
    ]);
    expect(recording.dropped).toBe(0);
  });

  it('are the newest when more acted than a recording lists, the rest counted as dropped', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const subject = { userId: await userIdOf(alice), clientId: bot.clientId, accountId: 'DU1000001' };
    const from = gw.clock.now();
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const fault = await gw.ctx.sandbox?.inject(
        {
          kind: 'order.rejected',
          target: { type: 'client', id: bot.clientId },
          schedule: { durationMs: 5_000 },
        },
        { type: 'operator' },
      );
      ids.push(fault?.id as string);
      gw.clock.advance(1_000);
    }
    const recorder = { subject, instruments: new Set<number>() };
    const listed = await subjectFaults(gw.ctx.store.db, recorder, null, from, gw.clock.now(), 2);
    expect(listed.faults.map((f) => f.id)).toEqual(ids.slice(1));
    expect(listed.beyond).toBe(1);
    // A fault that ended before the recording started is not one of its faults.
    const later = await subjectFaults(
      gw.ctx.store.db,
      recorder,
      null,
      gw.clock.now() + 60_000,
      gw.clock.now() + 60_000,
      10,
    );
    expect(later).toEqual({ faults: [], beyond: 0 });
  });
});

describe('the faults a reader sees in a recording', () => {
  it('are their own and the operator’s that acted on the subject (an instrument’s once it was asked for), with no one else’s note', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const viktor = await loginAs(gw, VIKTOR);
    // Viktor, a viewer on Alice's account, records a read-only bot of his own on it.
    const bot = await registerBot(gw, viktor, { accounts: ['U1000001'], scopes: ['read', 'marketdata'] });
    const started = await callAs(gw, 'POST', RECORDINGS, viktor, {
      clientId: bot.clientId,
      accountId: 'U1000001',
    });
    expect(started.statusCode).toBe(201);
    const { id } = json(started) as { id: string };
    const inject = async (as: LoggedIn | null, body: Record<string, unknown>) => {
      const response =
        as === null
          ? await operator('POST', '/v1/admin/sandbox/faults', body)
          : await callAs(gw, 'POST', '/v1/sandbox/faults', as, body);
      expect(response.statusCode).toBe(201);
      return (json(response) as { id: string }).id;
    };
    const schedule = { durationMs: 5_000 };
    const alices = await inject(alice, {
      kind: 'account.closing_only',
      target: { type: 'account', id: 'U1000001' },
      schedule,
      note: 'alice private note',
    });
    const tsla = await inject(null, {
      kind: 'order.rejected',
      target: { type: 'instrument', id: 'TSLA' },
      schedule,
      note: 'operator: INC-4411',
    });
    const onClient = await inject(null, {
      kind: 'order.rejected',
      target: { type: 'client', id: bot.clientId },
      schedule,
      note: 'operator: INC-4412',
    });
    const own = await inject(viktor, {
      kind: 'order.rejected',
      target: { type: 'client', id: bot.clientId },
      schedule,
      note: 'viktor note',
    });
    gw.clock.advance(1_000);
    const sorted = (rows: (string | null)[][]) =>
      rows.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    const seen = async () => sorted((await read(viktor, id)).faults.map((f) => [f.id, f.note]));
    expect(await seen()).toEqual(
      sorted([
        [onClient, null],
        [own, 'viktor note'],
      ]),
    );

    // Once the bot asks for TSLA's quote, the operator's fault on TSLA acts on it: listed, without its note.
    const TSLA = INSTRUMENTS.find((i) => i.symbol === 'TSLA') as (typeof INSTRUMENTS)[number];
    const token = await botToken(bot);
    await bot.call('GET', `/v1/marketdata/snapshot?instruments=${TSLA.id}`, token);
    expect(await seen()).toEqual(
      sorted([
        [onClient, null],
        [own, 'viktor note'],
        [tsla, null],
      ]),
    );

    // The operator sees every fault that acted on the subject, notes included.
    const all = json(await operator('GET', `${ADMIN_RECORDINGS}/${id}`)) as unknown as Recording;
    expect(sorted(all.faults.map((f) => [f.id, f.note]))).toEqual(
      sorted([
        [alices, 'alice private note'],
        [tsla, 'operator: INC-4411'],
        [onClient, 'operator: INC-4412'],
        [own, 'viktor note'],
      ]),
    );
  });
});

describe('recording slots', () => {
  it('are each user’s own: one user fills theirs without denying another or the operator, nor pushing out their stopped ones', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const bruno = await loginAs(gw, BRUNO);
    const alicesBot = await registerBot(gw, alice);
    const brunosBot = await registerBot(gw, bruno, { accounts: ['U2000002'] });
    const aliceBody = { clientId: alicesBot.clientId, accountId: 'DU1000001' };
    const brunoBody = { clientId: brunosBot.clientId, accountId: 'U2000002' };

    const brunos = json(await callAs(gw, 'POST', RECORDINGS, bruno, brunoBody)) as { id: string };
    expect((await callAs(gw, 'DELETE', `${RECORDINGS}/${brunos.id}`, bruno)).statusCode).toBe(200);

    const alices: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const started = await callAs(gw, 'POST', RECORDINGS, alice, aliceBody);
      expect(started.statusCode).toBe(201);
      alices.push((json(started) as { id: string }).id);
    }
    const third = await callAs(gw, 'POST', RECORDINGS, alice, aliceBody);
    expect(errorCode(third)).toBe('OVERLOADED');
    // Alice's two running leave Bruno and the operator their room.
    const brunoRunning = await callAs(gw, 'POST', RECORDINGS, bruno, brunoBody);
    expect(brunoRunning.statusCode).toBe(201);
    expect((await operator('POST', ADMIN_RECORDINGS, aliceBody)).statusCode).toBe(201);

    // Alice starts and stops many: her oldest stopped ones go, Bruno's stopped one stays readable.
    for (let i = 0; i < 20; i += 1) {
      const id = alices.shift() as string;
      expect((await callAs(gw, 'DELETE', `${RECORDINGS}/${id}`, alice)).statusCode).toBe(200);
      const started = await callAs(gw, 'POST', RECORDINGS, alice, aliceBody);
      expect(started.statusCode).toBe(201);
      alices.push((json(started) as { id: string }).id);
    }
    expect((await callAs(gw, 'GET', `${RECORDINGS}/${brunos.id}`, bruno)).statusCode).toBe(200);
  });
});

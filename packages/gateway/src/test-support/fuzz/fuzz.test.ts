/**
 * Every route fuzzed from its schema (issue 23): requests drawn from the gateway's own OpenAPI document for every
 * operation, as every kind of principal; none may answer a 5xx or an uncoded error, answer other than documented,
 * or change the database when refused. The CI budget is `FUZZ_RUNS` requests per operation (default below) with
 * a seed printed for replay; `npm run fuzz` runs a long budget.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, BRUNO, callAs, loginAs, startLogin, startTestGateway, type TestGateway } from '../gateway.js';
import { ADMIN_TOKEN, pushRequest, registerBot } from '../program.js';
import { changedTables, databaseDigest } from './digest.js';
import { PRINCIPAL_NAMES, type PrincipalName } from './principals.js';
import { operationsOf } from './requests.js';
import { describeFailure, emptyResult, exemptionFor, fuzzGateway, WRITING_REFUSALS } from './run.js';

const SEED = process.env.FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED);
/** Requests per operation: the CI budget, one as each kind of caller, keeps the file under a minute on 2 cores. */
const RUNS = process.env.FUZZ_RUNS === undefined ? 8 : Number(process.env.FUZZ_RUNS);
/** The long budget (`npm run fuzz`: 600 an operation, about 67,000 requests) may take its time. */
const TIMEOUT_MS = Math.max(120_000, RUNS * 96 * 200);
const ROUND_RUNS = 25;

/** Every route served: the admin API, the development outboxes and the failure sandbox on. */
function fuzzedGateway(): Promise<TestGateway> {
  return startTestGateway({
    config: {
      secrets: { adminApiToken: ADMIN_TOKEN },
      development: { exposeOutboxes: true },
      sandbox: { enabled: true },
    },
  });
}

describe('the fuzzer', () => {
  it(
    'sends every operation of /openapi.json valid, boundary and invalid requests as every principal: no 5xx, no uncoded error, no undocumented answer, no write from a refusal',
    async () => {
      const started = Date.now();
      const result = emptyResult();
      let operations: string[] = [];
      // Rounds of at most ROUND_RUNS requests per operation, each on a fresh gateway: the database, which every
      // refusal digests twice, stays small however long the budget.
      for (let round = 0; round * ROUND_RUNS < RUNS; round += 1) {
        const gw = await fuzzedGateway();
        try {
          const runs = Math.min(ROUND_RUNS, RUNS - round * ROUND_RUNS);
          await fuzzGateway(gw, { seed: SEED, runs, round }, result);
          operations = operationsOf(
            (await gw.app.inject({ method: 'GET', url: '/openapi.json' })).json(),
          ).map((op) => `${op.method} ${op.path}`);
        } finally {
          await gw.close();
        }
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(
        `fuzz: seed=${SEED} runs=${RUNS} (replay: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} npm run fuzz) — ${result.requests} requests to ${operations.length} operations in ${seconds} s; statuses ${JSON.stringify(Object.fromEntries(result.statuses))}; refusals that wrote by design ${JSON.stringify(Object.fromEntries(result.exemptionsUsed))}`,
      );
      const report = result.failures.map((f) => describeFailure(f, RUNS)).join('\n\n');
      expect(report).toBe('');
      // Coverage: every operation of the document was sent requests, so a new route cannot escape the fuzzer.
      expect(operations.filter((op) => !result.visited.has(op))).toEqual([]);
      if (RUNS >= PRINCIPAL_NAMES.length) {
        const pairs = operations.flatMap((op) => PRINCIPAL_NAMES.map((p) => `${op} as ${p}`));
        expect(pairs.filter((pair) => !result.visited.has(pair))).toEqual([]);
      }
      expect(operations.length).toBeGreaterThan(105);
      // Each kind of answer was seen: successes, and refusals of each kind (a budget too small to be sure aside).
      if (RUNS >= PRINCIPAL_NAMES.length)
        for (const status of [200, 400, 401, 403, 404, 415])
          expect(result.statuses.get(status)).toBeGreaterThan(0);
    },
    TIMEOUT_MS,
  );
});

describe('the database digest', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await fuzzedGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('changes, naming the table, when one row changes, and not when nothing does', async () => {
    const before = await databaseDigest(gw.ctx.store);
    expect(changedTables(before, await databaseDigest(gw.ctx.store))).toEqual([]);
    await gw.ctx.store.db
      .updateTable('users')
      .set({ display_name: 'Changed' })
      .where('username', '=', 'alice')
      .execute();
    expect(changedTables(before, await databaseDigest(gw.ctx.store))).toEqual(['users']);
  });

  it('leaves out sessions.last_seen_at, and only it', async () => {
    const before = await databaseDigest(gw.ctx.store);
    await gw.ctx.store.db.updateTable('sessions').set({ last_seen_at: 1 }).execute();
    expect(changedTables(before, await databaseDigest(gw.ctx.store))).toEqual([]);
    await gw.ctx.store.db.updateTable('sessions').set({ ip: '192.0.2.1' }).execute();
    const rows = await gw.ctx.store.db.selectFrom('sessions').select('id').execute();
    expect(changedTables(before, await databaseDigest(gw.ctx.store))).toEqual(
      rows.length > 0 ? ['sessions'] : [],
    );
  });
});

describe('the refusals that write by design (WRITING_REFUSALS)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await fuzzedGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  /** Sends `send`, and checks it is refused with `code` and writes exactly the tables its exemption names. */
  async function writesAsListed(
    operation: string,
    principal: PrincipalName,
    code: string,
    send: () => Promise<{ statusCode: number; body: string }>,
  ) {
    const exemption = exemptionFor(operation, principal, code);
    expect(exemption?.why.length).toBeGreaterThan(20);
    await gw.ctx.sessions.flushLastSeen();
    const before = await databaseDigest(gw.ctx.store);
    const response = await send();
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.body).toContain(code);
    await gw.ctx.sessions.flushLastSeen();
    expect(changedTables(before, await databaseDigest(gw.ctx.store))).toEqual(
      [...(exemption?.tables ?? [])].sort(),
    );
  }

  it('a failed login, step-up and password change write the backoff and the audit log, nothing else', async () => {
    await writesAsListed('POST /v1/auth/login', 'anonymous', 'INVALID_CREDENTIALS', () =>
      startLogin(gw, ALICE.username, 'not her password'),
    );
    const alice = await loginAs(gw, ALICE);
    await writesAsListed('POST /v1/session/step-up', 'web user', 'INVALID_CREDENTIALS', () =>
      callAs(gw, 'POST', '/v1/session/step-up', alice, { type: 'totp', code: '000000' }),
    );
    await writesAsListed('POST /v1/password', 'web user', 'INVALID_CREDENTIALS', () =>
      callAs(gw, 'POST', '/v1/password', alice, {
        currentPassword: 'not her password',
        newPassword: 'a-new-long-passphrase-42',
      }),
    );
  });

  it('a wrong texted code at an SMS factor’s confirmation counts toward its attempts, nothing else', async () => {
    const bruno = await loginAs(gw, BRUNO);
    const enrol = await callAs(gw, 'POST', '/v1/factors/sms', bruno, { phone: '+14155550123' });
    const { factorId } = enrol.json() as { factorId: string };
    await writesAsListed('POST /v1/factors/{id}/confirm', 'other user', 'INVALID_CREDENTIALS', () =>
      callAs(gw, 'POST', `/v1/factors/${factorId}/confirm`, bruno, { code: 'not-a-code' }),
    );
  });

  it('a refused authorization-server request spends the client assertion it presented, nothing else', async () => {
    const bot = await registerBot(gw, await loginAs(gw, ALICE));
    // A personal client may not push an authorization request: refused after its assertion was checked.
    await writesAsListed(
      'POST /oauth2/par',
      'program',
      'unauthorized_client',
      async () => (await pushRequest(bot)).response,
    );
  });

  it('no other refusal is exempt', () => {
    expect(exemptionFor('POST /v1/factors/sms', 'web user', 'SMS_RESEND_TOO_SOON')).toBeUndefined();
    expect(exemptionFor('POST /oauth2/par', 'anonymous', 'invalid_client')).toBeUndefined();
    expect(exemptionFor('POST /v1/auth/login', 'anonymous', 'TOO_MANY_ATTEMPTS')).toBeUndefined();
    expect(WRITING_REFUSALS.map((e) => e.operation).sort()).toEqual([
      'POST /oauth2/introspect',
      'POST /oauth2/par',
      'POST /oauth2/revoke',
      'POST /oauth2/token',
      'POST /v1/auth/login',
      'POST /v1/factors/{id}/confirm',
      'POST /v1/password',
      'POST /v1/session/step-up',
    ]);
  });
});

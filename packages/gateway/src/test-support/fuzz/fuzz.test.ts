/**
 * Every route fuzzed from its schema (issue 23): requests drawn from the gateway's own OpenAPI document for every
 * operation, as every kind of principal; none may answer a 5xx or an uncoded error, answer other than documented,
 * or change the database when refused. The CI budget is `FUZZ_RUNS` requests per operation (default below) with
 * a seed printed for replay; `npm run fuzz` runs a long budget.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../gateway.js';
import { ADMIN_TOKEN } from '../program.js';
import { changedTables, databaseDigest } from './digest.js';
import { operationsOf } from './requests.js';
import { describeFailure, fuzzGateway, WRITING_REFUSALS } from './run.js';

const SEED = process.env.FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED);
/** Requests per operation: the CI budget keeps the file under a minute on a 2-core machine. */
const RUNS = process.env.FUZZ_RUNS === undefined ? 12 : Number(process.env.FUZZ_RUNS);
/** The long budget (`npm run fuzz`) may take its time. */
const TIMEOUT_MS = Math.max(120_000, RUNS * 96 * 200);

/** Every route served: the admin API and the development outboxes on. */
function fuzzedGateway(): Promise<TestGateway> {
  return startTestGateway({
    config: { secrets: { adminApiToken: ADMIN_TOKEN }, development: { exposeOutboxes: true } },
  });
}

describe('the fuzzer', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await fuzzedGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it(
    'sends every operation of /openapi.json valid, boundary and invalid requests as every principal: no 5xx, no uncoded error, no undocumented answer, no write from a refusal',
    async () => {
      const started = Date.now();
      const result = await fuzzGateway(gw, { seed: SEED, runs: RUNS });
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(
        `fuzz: seed=${SEED} runs=${RUNS} (replay: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} npm run fuzz) — ${result.requests} requests in ${seconds} s, statuses ${JSON.stringify(Object.fromEntries(result.statuses))}`,
      );
      const report = result.failures.map((f) => describeFailure(f, RUNS)).join('\n\n');
      expect(report).toBe('');
      // Coverage: every operation of the document was sent requests, so a new route cannot escape the fuzzer.
      const document = (await gw.app.inject({ method: 'GET', url: '/openapi.json' })).json();
      const all = operationsOf(document).map((op) => `${op.method} ${op.path}`);
      expect(all.filter((op) => !result.visited.has(op))).toEqual([]);
      expect(all.length).toBeGreaterThan(90);
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

  it('lists every refusal that writes with the tables it writes and why', () => {
    for (const exemption of WRITING_REFUSALS) {
      expect(exemption.tables.length).toBeGreaterThan(0);
      expect(exemption.why.length).toBeGreaterThan(20);
    }
  });
});

/**
 * bench/login.ts — complete web logins (password + TOTP) per second against argon2id verifications per second with
 * the same parameters, measured in the same run (target ratio ≥ 0.8: the login path adds under 20% over the hash),
 * and the p99 of `GET /v1/session` while the login storm runs (target < 20 ms: hashing stays off the event loop).
 * Prints {loginsPerSec, hashesPerSec, ratio, whoamiP99DuringStormMs}.
 *
 * Every bench user has its own TOTP secret and logs in once, since a TOTP code is accepted only once. The per-address
 * rate limit is raised for the run (all requests come from 127.0.0.1); the per-user backoff is untouched.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeContext, createContext } from '../packages/gateway/src/app/index.js';
import { defaultConfig } from '../packages/gateway/src/config/index.js';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { addTotpFactor, totpCode } from '../packages/gateway/src/factors/index.js';
import { createUser } from '../packages/gateway/src/identity/index.js';
import { log, percentile, root, round, runJsonScript, startGateway, webLogin } from './lib.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const USERS = Number(process.env.BENCH_USERS ?? 2_000);
/** Clients logging in at once: enough to keep the hashing queue full, so the storm measures capacity. */
const CONCURRENCY = 16;
/** The gateway hashes at most this many passwords at once; the baseline hashes with the same concurrency. */
const HASH_SLOTS = defaultConfig().password.maxConcurrentHashes;
const PASSWORD = 'bench-password-0123';

/**
 * argon2id verifications per second in a child process, with the gateway's default parameters and as many
 * verifications at once as the gateway allows itself (`password.maxConcurrentHashes`).
 */
function measureHashes(seconds: number): Promise<number> {
  const script = `
    const { hash, verify } = require(${JSON.stringify(join(root, 'node_modules/@node-rs/argon2'))});
    const options = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 };
    (async () => {
      const encoded = await hash('bench-password-0123', options);
      const end = Date.now() + ${seconds * 1000};
      let done = 0;
      const worker = async () => { while (Date.now() < end) { await verify(encoded, 'bench-password-0123'); done += 1; } };
      const started = Date.now();
      await Promise.all(Array.from({ length: ${HASH_SLOTS} }, worker));
      console.log(JSON.stringify({ perSec: done / ((Date.now() - started) / 1000) }));
    })();`;
  return runJsonScript<{ perSec: number }>(script).then((r) => r.perSec);
}

async function createBenchUsers(dbFile: string): Promise<{ username: string; secret: string }[]> {
  const config = defaultConfig({ database: { url: dbFile }, log: { level: 'warn' } });
  const ctx = await createContext(config);
  try {
    const passwordHash = await ctx.hasher.hash(PASSWORD);
    const users: { username: string; secret: string }[] = [];
    for (let i = 0; i < USERS; i += 1) {
      const user = await createUser(ctx.store.db, ctx.clock, {
        username: `bench${i}`,
        displayName: `Bench ${i}`,
        passwordHash,
      });
      const { secret } = await addTotpFactor(ctx.store.db, ctx.clock, ctx.box, {
        userId: user.id,
        label: 'bench',
        issuer: 'Gatehouse',
        accountName: user.username,
      });
      users.push({ username: user.username, secret });
    }
    return users;
  } finally {
    await closeContext(ctx);
  }
}

async function storm(baseUrl: string, users: { username: string; secret: string }[], seconds: number) {
  let next = 0;
  let completed = 0;
  let failed = 0;
  const end = Date.now() + seconds * 1000;
  const started = Date.now();
  const worker = async () => {
    while (Date.now() < end && next < users.length) {
      const user = users[next++] as { username: string; secret: string };
      try {
        await webLogin(
          baseUrl,
          { username: user.username, password: PASSWORD },
          totpCode(user.secret, Date.now()),
        );
        completed += 1;
      } catch {
        failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (Date.now() - started) / 1000;
  if (next >= users.length) log('warning: ran out of bench users before the time was up');
  return { perSec: completed / elapsed, completed, failed };
}

/**
 * Polls `GET /v1/session` every 5 ms from its own process (so the storm's client work in this process does not
 * colour the measurement) for `seconds`; resolves to the latencies in ms.
 */
function probeWhoami(url: string, cookie: string, seconds: number): Promise<number[]> {
  const script = `
    const latencies = [];
    const end = Date.now() + ${seconds * 1000};
    (async () => {
      while (Date.now() < end) {
        const t0 = performance.now();
        const response = await fetch(${JSON.stringify(url)}, { headers: { cookie: ${JSON.stringify(cookie)} } });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error('who-am-I answered ' + response.status);
        latencies.push(performance.now() - t0);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      console.log(JSON.stringify(latencies));
    })();`;
  return runJsonScript<number[]>(script);
}

export async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-login-'));
  const dbFile = join(dir, 'g.db');
  try {
    log(`creating ${USERS} bench users…`);
    const users = await createBenchUsers(dbFile);
    const hashesBefore = await measureHashes(SECONDS / 2);
    log(`argon2id: ${hashesBefore.toFixed(1)} verifications/s`);
    const gateway = await startGateway({ GATEHOUSE_LOGIN_IP_RATE_LIMIT_MAX: '1000000' }, dbFile);
    try {
      const alice = DEMO_USERS[0] as (typeof DEMO_USERS)[number];
      const { cookie } = await webLogin(gateway.url, alice, totpCode(alice.totpSecret, Date.now()));
      const probe = probeWhoami(`${gateway.url}/v1/session`, cookie, SECONDS);
      const result = await storm(gateway.url, users, SECONDS);
      const latencies = await probe;
      log(`logins: ${result.perSec.toFixed(1)}/s (${result.completed} completed, ${result.failed} failed)`);
      if (result.failed > 0) throw new Error(`${result.failed} logins failed`);
      const hashesAfter = await measureHashes(SECONDS / 2);
      log(`argon2id again: ${hashesAfter.toFixed(1)} verifications/s`);
      const hashesPerSec = (hashesBefore + hashesAfter) / 2;
      return {
        loginsPerSec: round(result.perSec, 1),
        hashesPerSec: round(hashesPerSec, 1),
        ratio: round(result.perSec / hashesPerSec, 3),
        whoamiP99DuringStormMs: round(percentile(latencies, 99), 2),
      };
    } finally {
      await gateway.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * bench/push.ts — push approval round trip on loopback: from the login's `POST …/factor {type:"push"}` to the
 * long-poll answering "authenticated" with the session, while `gatehouse authenticator run --auto-approve` runs in
 * its own process: delivery over the device's socket, receipt, signed approval, verification, session issued.
 * The password step (argon2id) happens before each timed section. Target: p99 < 25 ms.
 * Prints {p50Ms, p99Ms, samples}.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { log, percentile, root, round, startGateway, webLogin } from './lib.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200);
const cli = join(root, 'packages/gateway/bin/gatehouse.js');

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function main() {
  const gateway = await startGateway({
    GATEHOUSE_LOGIN_IP_RATE_LIMIT_MAX: '1000000',
    GATEHOUSE_LOG_LEVEL: process.env.PUSH_LOG ?? 'warn',
  });
  const keyFile = join(gateway.dir, 'authenticator.json');
  try {
    const alice = DEMO_USERS[0] as (typeof DEMO_USERS)[number];
    const { cookie, csrf } = await webLogin(gateway.url, alice, totpCode(alice.totpSecret, Date.now()));
    const enroll = await post(
      `${gateway.url}/v1/devices/mobile/enroll`,
      {},
      { cookie, 'x-csrf-token': csrf },
    );
    await promisify(execFile)(process.execPath, [
      cli,
      'authenticator',
      'enroll',
      enroll.body.activationUri as string,
      '--file',
      keyFile,
    ]);
    const authenticator = spawn(
      process.execPath,
      [cli, 'authenticator', 'run', '--auto-approve', '--file', keyFile],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        authenticator.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('ready:')) resolve();
        });
        authenticator.once('exit', (code) => reject(new Error(`authenticator exited ${code}`)));
      });
      authenticator.stdout.resume();
      const latencies: number[] = [];
      for (let i = 0; i < SAMPLES + 10; i += 1) {
        const started = await post(`${gateway.url}/v1/auth/login`, {
          username: alice.username,
          password: alice.password,
          channel: 'web',
        });
        const loginId = started.body.loginId as string;
        const t0 = performance.now();
        const push = await post(`${gateway.url}/v1/auth/login/${loginId}/factor`, { type: 'push' });
        if (push.status !== 200) throw new Error(`push start failed: ${JSON.stringify(push.body)}`);
        const polled = await fetch(`${gateway.url}/v1/auth/login/${loginId}?waitMs=10000`);
        const body = (await polled.json()) as { status: string };
        const elapsed = performance.now() - t0;
        if (body.status !== 'authenticated')
          throw new Error(`push login not approved: ${JSON.stringify(body)}`);
        if (i >= 10) latencies.push(elapsed); // the first ten warm up JIT and connections
      }
      log(`push round trips: ${latencies.length}`);
      return {
        p50Ms: round(percentile(latencies, 50)),
        p99Ms: round(percentile(latencies, 99)),
        samples: latencies.length,
      };
    } finally {
      authenticator.kill('SIGTERM');
    }
  } finally {
    await gateway.stop();
  }
}

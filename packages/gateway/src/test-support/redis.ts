/**
 * The Redis the event bus tests run against: GATEHOUSE_TEST_REDIS_URL (`.ci/redis.sh` starts a throw-away one and
 * prints its URL). As with PostgreSQL (test-support/databases.ts): unset on a developer's machine, `npm test` runs
 * without the Redis half; in CI (`CI=true`) unset fails the run instead of skipping it; `none` marks, on purpose, a
 * CI run whose Redis half runs in another run of the same CI.
 */
import { createServer } from 'node:net';

/** The Redis URL, or null when there is none to test against (see the module's comment). */
export function testRedisUrl(): string | null {
  const url = process.env.GATEHOUSE_TEST_REDIS_URL;
  if (url === 'none') return null;
  if (url === undefined || url === '') {
    if (process.env.CI !== 'true') return null;
    throw new Error(
      'CI must set GATEHOUSE_TEST_REDIS_URL to a Redis the event bus tests may use (`.ci/redis.sh` starts one and ' +
        'prints its URL), or to `none` where another run of the same CI covers them',
    );
  }
  return url;
}

/** The URL of a Redis that is not there: a loopback port nothing listens on. */
export async function unreachableRedisUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return `redis://127.0.0.1:${address.port}`;
}

/** Waits until `check` holds (polling every 5 ms), failing after `timeoutMs`; resolves to the time it took. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 2_000,
): Promise<number> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return performance.now() - start;
}

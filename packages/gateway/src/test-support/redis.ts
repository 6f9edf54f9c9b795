/**
 * The Redis the event bus tests run against: GATEHOUSE_TEST_REDIS_URL (`.ci/redis.sh` starts a throw-away one and
 * prints its URL). Unset, the tests fail rather than skip; `none` marks, on purpose, a CI run whose Redis half runs
 * in another run of the same CI (as `GATEHOUSE_TEST_DATABASE_URL=none`, test-support/databases.ts).
 */
import { createServer } from 'node:net';

/** The Redis URL, or null when the run says `none`. */
export function testRedisUrl(): string | null {
  const url = process.env.GATEHOUSE_TEST_REDIS_URL;
  if (url === 'none') return null;
  if (url === undefined || url === '') {
    throw new Error(
      'Set GATEHOUSE_TEST_REDIS_URL to a Redis the event bus tests may use (`.ci/redis.sh` starts one and prints ' +
        'its URL), or to `none` where another run covers them',
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

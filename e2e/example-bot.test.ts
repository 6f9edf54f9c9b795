/**
 * The example bot (examples/paper-bot) runs as a user would run it, against a gateway it starts: through token
 * expiry, a competing login, a network drop and a gateway killed and restarted. It exits 0 only if its invariants
 * held (no duplicated order, none missing, every event once and in sequence, no request refused for an expired
 * token, ready at the end); this test also reads its summary.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

describe('examples/paper-bot', () => {
  it('survives expiry, a competing login, a network drop and a gateway restart, with its invariants intact', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/paper-bot/bot.ts'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, err.slice(-3000)).toBe(0);
    const summary = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, number | string>;
    expect(summary).toMatchObject({
      duplicated: 0,
      toldButMissing: 0,
      eventGaps: 0,
      expiryFailures: 0,
      finalState: 'ready',
    });
    expect(summary.reconnects).toBeGreaterThanOrEqual(1);
    expect(err).toContain('state ready → degraded (competing)');
  }, 120_000);
});

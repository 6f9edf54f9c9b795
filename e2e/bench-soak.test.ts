/**
 * bench/soak.ts for 2 minutes (as `SOAK_MINUTES=2 npm run bench -- soak`), so the soak cannot rot unnoticed and a
 * gross leak or a stuck request fails CI: a `gatehouse serve` of the build under the whole mix at 20 operations a
 * second, every operation answered without an error, every stream closed by the client, the gateway's metrics read
 * every 10 s through its metrics listener's bearer token, and the run judged (a 30-minute run judges the slopes;
 * a 2-minute one only what rises beyond the floors, bench/soak-judge.ts). Needs `npm run build`; about 2.5 minutes,
 * so CI runs this file in one line only.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSoak } from '../bench/soak.js';
import { MIX } from '../bench/soak-traffic.js';

describe('bench/soak.ts', () => {
  it('runs 2 minutes of the whole mix at a fixed rate without an error, samples the gateway every 10 s and passes its judge', async () => {
    const outDir = join(tmpdir(), `gh-soak-test-${process.pid}`);
    try {
      const result = await runSoak({ minutes: 2, rate: 20, users: 48, outDir });
      expect(result.failures).toEqual([]);
      expect(result.passed).toBe(true);
      expect(result.errors).toEqual({});
      // Open loop: every due operation was started, 20 a second for 120 s, each kind in the mix's proportion.
      expect(result.operations).toBe(2400);
      for (const op of new Set(MIX))
        expect(result.byOperation[op], op).toBe((2400 / MIX.length) * MIX.filter((o) => o === op).length);
      // A sample at the start and every 10 s: 13; those after the 30 s warm-up are fitted.
      expect(result.samples).toBe(13);
      expect(result.judged).toBe(10);
      expect(result.first.rssMb).toBeGreaterThan(30);
      expect(result.first.handles).toBeGreaterThan(0);
      expect(result.last.dbMb).toBeGreaterThan(result.first.dbMb);
      for (const key of [
        'rssSlopeMbPerHour',
        'heapSlopeMbPerHour',
        'nativeSlopeMbPerHour',
        'externalSlopeMbPerHour',
        'handlesSlopePerHour',
        'p99DriftPct',
      ] as const)
        expect(Number.isFinite(result[key]), key).toBe(true);
      expect(result.p99FirstMs).toBeGreaterThan(0);
      expect(result.p99ByOperationMs.login).toBeGreaterThan(0);
      const svg = readFileSync(result.plot, 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svg).toContain('Resident memory');
      expect(svg).toContain('Open handles');
      expect(svg).toContain('Resident memory outside V8’s heap');
      expect(svg).toContain('External memory (Buffers)');
      expect(svg.match(/<polyline/g)).toHaveLength(9);
      expect(existsSync(result.plot)).toBe(true);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  }, 240_000);
});

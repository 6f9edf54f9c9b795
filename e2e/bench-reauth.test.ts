/**
 * bench/reauth.ts with tiny counts, so the benchmark cannot rot unnoticed: its gateway starts, every channel's
 * client is set up over HTTP, every channel × loss trial gets the refusal it expects and ends with an accepted order,
 * and the figures are judged against the targets.
 */
import { describe, expect, it } from 'vitest';
import { figures, measure, TARGETS, wayBack } from '../bench/reauth.js';
import { CHANNELS, LOSSES, startRig } from '../bench/reauth-channels.js';

type Times = Parameters<typeof figures>[0];

function uniform(ms: number): Times {
  const perPath = () =>
    Object.fromEntries(CHANNELS.map((c) => [c, Object.fromEntries(LOSSES.map((l) => [l, [ms, ms]]))]));
  return { ...perPath(), order: [ms, ms], cpu: perPath(), gatewayCpu: perPath() } as Times;
}

describe('bench/reauth.ts', () => {
  it('times every channel back to an accepted order after an expiry, a reset and a takeover, and notices a loss that did not happen', async () => {
    const rig = await startRig(2);
    try {
      const times = await measure(rig, 2, false);
      for (const channel of CHANNELS)
        for (const loss of LOSSES) {
          expect(times[channel][loss], `${channel} after ${loss}`).toHaveLength(2);
          for (const ms of times[channel][loss]) expect(ms).toBeGreaterThan(0);
          // CPU time of the gateway and the client, within the trial's wall time on two or more cores.
          for (const [i, cpuMs] of times.cpu[channel][loss].entries()) {
            expect(cpuMs).toBeGreaterThan(0);
            expect(cpuMs).toBeLessThan(2 * (times[channel][loss][i] as number) + 5);
            expect(times.gatewayCpu[channel][loss][i]).toBeGreaterThan(0);
            expect(times.gatewayCpu[channel][loss][i]).toBeLessThan(cpuMs);
          }
        }
      expect(times.order).toHaveLength(2);
      const out = figures(times);
      expect(out.samples).toBe(2);
      expect(out.orderP99Ms).toBeGreaterThan(0);
      for (const key of ['apiRefreshP99Ms', 'desktopP99Ms', 'mobileP99Ms', 'webTotpP99Ms'] as const)
        expect(out[key]).toBeGreaterThan(0);
      expect(out.lossKinds.desktop.expiry).toBe('session.absolute_expiry');

      // A way back with no loss before it measures nothing, and says so.
      await rig.channels.web.prepare('reset');
      await expect(wayBack(rig, 'web', 'reset')).rejects.toThrow('web after reset: ok, not SESSION_RESET');
      await rig.channels.desktop.prepare('takeover');
      await expect(wayBack(rig, 'desktop', 'expiry')).rejects.toThrow('ok, not SESSION_EXPIRED');
      await rig.channels.api.prepare('expiry');
      await expect(wayBack(rig, 'api', 'expiry')).rejects.toThrow(
        'api after a token expiry: ok, 0 refreshes',
      );
    } finally {
      await rig.stop();
    }
  }, 120_000);

  it('passes only the paths whose p99 is under their target', () => {
    expect(figures(uniform(1))).toMatchObject({
      pass: { apiRefresh: true, desktop: true, mobile: true, webTotp: true },
      passed: true,
    });
    const slowRefresh = uniform(1);
    slowRefresh.api.expiry = [1, TARGETS.apiRefresh];
    const slowWeb = uniform(TARGETS.desktop - 1);
    slowWeb.web.expiry = [TARGETS.webTotp + 1, 1];
    expect(figures(slowRefresh)).toMatchObject({ pass: { apiRefresh: false, desktop: true }, passed: false });
    expect(figures(slowWeb)).toMatchObject({
      pass: { apiRefresh: false, desktop: true, mobile: true, webTotp: false },
      webTotpP99Ms: TARGETS.webTotp + 1,
      webTotpP50Ms: (TARGETS.webTotp + 2) / 2,
      passed: false,
    });
  });
});

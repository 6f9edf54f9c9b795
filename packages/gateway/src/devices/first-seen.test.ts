/**
 * Issue 20, item 9: each device says where it was first seen. The record keeps its first network for good (the
 * list keeps the first and the latest 19), and `GET /v1/devices` answers it as `firstSeenNetwork`.
 */
import { describe, expect, it } from 'vitest';
import { ALICE, callAs, json, loginAs, startTestGateway } from '../test-support/gateway.js';
import { keptNetworks } from './browser.js';

describe('first seen', () => {
  it('keeps the first network when the list is full', () => {
    const many = Array.from({ length: 21 }, (_, i) => `10.0.${i}.0/24`);
    const kept = keptNetworks(many);
    expect(kept).toHaveLength(20);
    expect(kept[0]).toBe('10.0.0.0/24');
    expect(kept.at(-1)).toBe('10.0.20.0/24');
    expect(kept).not.toContain('10.0.1.0/24');
    expect(keptNetworks(['a', 'b'])).toEqual(['a', 'b']);
  });

  it('answers each device with its first-seen date and network', async () => {
    const gw = await startTestGateway({ config: { server: { portalDir: false } } });
    try {
      const alice = await loginAs(gw, ALICE);
      const { devices } = json(await callAs(gw, 'GET', '/v1/devices', alice)) as {
        devices: { kind: string; firstSeenAt: string; firstSeenNetwork: string | null; networks: string[] }[];
      };
      const browser = devices.find((d) => d.kind === 'browser');
      expect(browser?.firstSeenNetwork).toBe('127.0.0.0/24');
      expect(browser?.networks[0]).toBe(browser?.firstSeenNetwork);
      expect(Date.parse(browser?.firstSeenAt ?? '')).toBeLessThanOrEqual(gw.clock.now());
    } finally {
      await gw.close();
    }
  });
});

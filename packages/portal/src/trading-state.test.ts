/** How the portal names the session that holds trading, so a person recognises it (issue 20, finding 2). */
import { describe, expect, it } from 'vitest';
import { ago } from './format.js';
import { describeHolder } from './trading-state.js';

const NOW = Date.parse('2026-06-15T15:00:00Z');

describe('ago', () => {
  it('says just now, minutes, or the time of day', () => {
    expect(ago('2026-06-15T14:59:30Z', NOW)).toBe('just now');
    expect(ago('2026-06-15T14:58:00Z', NOW)).toBe('2 min ago');
    expect(ago('2026-06-15T14:00:30Z', NOW)).toBe('59 min ago');
    expect(ago('2026-06-15T13:00:00Z', NOW)).toMatch(/^at \d{1,2}[:.]\d{2}/);
  });
});

describe('describeHolder', () => {
  const holder = {
    channel: 'web',
    device: 'Chrome on Linux',
    lastSeenAt: '2026-06-15T14:58:00Z',
    ip: '127.0.0.1',
    sameDevice: false,
  };

  it('names the user’s own session with when and from where it was last seen', () => {
    expect(describeHolder(holder, NOW)).toBe(
      'your web session on Chrome on Linux, last seen 2 min ago from 127.0.0.1',
    );
  });

  it('says "in this browser" for a tab of this very browser, and names programs and apps', () => {
    expect(describeHolder({ ...holder, sameDevice: true }, NOW)).toBe(
      'your web session in this browser (Chrome on Linux), last seen 2 min ago from 127.0.0.1',
    );
    expect(
      describeHolder({ ...holder, channel: 'api', device: 'oauth:cli_1 key abcd1234', ip: null }, NOW),
    ).toBe('your program (oauth:cli_1 key abcd1234), last seen 2 min ago');
    expect(describeHolder({ ...holder, channel: 'mobile', device: 'Pixel', lastSeenAt: null }, NOW)).toBe(
      'your mobile app on Pixel from 127.0.0.1',
    );
  });
});

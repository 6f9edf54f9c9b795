/**
 * The checklist's rules (issue 22, item 1): each item's three states from facts, without a gateway.
 */
import { describe, expect, it } from 'vitest';
import { loginPathOf } from './paths.js';
import {
  type ClientRecord,
  drillOf,
  judgeApiClients,
  judgeBackup,
  judgeDevices,
  judgeLegalEntity,
  judgeMarketData,
  judgePush,
  judgeReauthentication,
  type MarketDataFacts,
  median,
  reauthChannels,
  worstState,
} from './rules.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-15T12:00:00Z');

describe('push', () => {
  it('is ok with a device seen within 14 days, warn when not seen since, missing without one', () => {
    const pixel = { id: 'd1', name: 'Pixel 8', lastSeenAt: NOW - 3 * DAY };
    const ok = judgePush({ devices: [pixel] }, NOW);
    expect(ok).toEqual({ state: 'ok', finding: 'Enrolled on Pixel 8, last seen 3 days ago.', action: null });
    const old = judgePush({ devices: [{ ...pixel, lastSeenAt: NOW - 15 * DAY }] }, NOW);
    expect(old.state).toBe('warn');
    expect(old.finding).toContain('last seen 15 days ago');
    expect(old.action?.href).toBe('/security#push');
    expect(judgePush({ devices: [{ ...pixel, lastSeenAt: null }] }, NOW).state).toBe('warn');
    const none = judgePush({ devices: [] }, NOW);
    expect(none).toMatchObject({ state: 'missing', action: { href: '/security#push' } });
  });
});

describe('backup', () => {
  it('is ok with two ways and recovery codes, warn with one of them, missing with neither', () => {
    expect(judgeBackup({ ways: ['totp', 'push:Pixel 8'], recoveryCodesLeft: 8 })).toEqual({
      state: 'ok',
      finding: '2 ways to log in (totp, push:Pixel 8); 8 recovery codes left.',
      action: null,
    });
    expect(judgeBackup({ ways: ['totp', 'webauthn:YubiKey'], recoveryCodesLeft: 0 })).toMatchObject({
      state: 'warn',
      action: { href: '/security#recovery' },
    });
    expect(judgeBackup({ ways: ['totp'], recoveryCodesLeft: 3 })).toMatchObject({
      state: 'warn',
      action: { href: '/security#factors' },
    });
    expect(judgeBackup({ ways: ['totp'], recoveryCodesLeft: 0 })).toMatchObject({
      state: 'missing',
      finding: '1 way to log in (totp); no recovery codes left.',
    });
  });
});

describe('devices', () => {
  const web = { channel: 'web' as const, used: true, device: { id: 'b1', name: 'Firefox on Linux' } };
  const desktop = { channel: 'desktop' as const, used: true, device: { id: 'k1', name: 'Desk' } };
  const mobile = { channel: 'mobile' as const, used: false, device: null };
  it('is ok when every channel traded from has a pre-validated device', () => {
    expect(judgeDevices({ channels: [web, desktop, mobile] })).toMatchObject({ state: 'ok', action: null });
  });
  it('warns when only some have one, and when no channel was traded from yet', () => {
    const some = judgeDevices({ channels: [web, { ...desktop, device: null }, mobile] });
    expect(some).toMatchObject({ state: 'warn', action: { href: '/security#devices' } });
    expect(some.finding).toContain('desktop');
    const none = judgeDevices({ channels: [{ ...web, used: false }, { ...desktop, used: false }, mobile] });
    expect(none).toMatchObject({ state: 'warn', finding: expect.stringContaining('not traded yet') });
  });
  it('is missing when no channel traded from has one', () => {
    expect(judgeDevices({ channels: [{ ...web, device: null }, mobile] }).state).toBe('missing');
  });
});

describe('market data', () => {
  const live: MarketDataFacts['instruments'][number] = {
    instrumentId: 1,
    symbol: 'AAPL',
    data: 'live',
    bundle: null,
    bundleName: null,
    whatIf: { outcome: 'accepted', reason: null },
  };
  it('is ok when every watchlist instrument is live and a one-lot buy goes through', () => {
    expect(judgeMarketData({ instruments: [live] })).toMatchObject({ state: 'ok', action: null });
  });
  it('does not count the asking session’s own standing against the instrument', () => {
    const held = { ...live, whatIf: { outcome: 'refused' as const, reason: 'BROKERAGE_REQUIRED' } };
    expect(judgeMarketData({ instruments: [held] }).state).toBe('ok');
  });
  it('warns on delayed data, a confirmation question, or a refusal of the instrument', () => {
    const delayed = { ...live, data: 'delayed' as const, bundle: 'US_EQUITY', bundleName: 'US equities' };
    const warn = judgeMarketData({ instruments: [live, delayed] });
    expect(warn).toMatchObject({ state: 'warn', action: { href: '/account#market-data' } });
    expect(warn.finding).toBe('Delayed prices for AAPL: subscribe to US equities for live data.');
    const asked = {
      ...live,
      whatIf: { outcome: 'confirmation_required' as const, reason: 'no_market_data' },
    };
    expect(judgeMarketData({ instruments: [asked] }).state).toBe('warn');
    const refused = { ...live, whatIf: { outcome: 'refused' as const, reason: 'PERMISSION_MISSING' } };
    expect(judgeMarketData({ instruments: [refused] }).state).toBe('warn');
  });
  it('is missing with an instrument without data, or an empty watchlist', () => {
    const none = {
      ...live,
      symbol: 'UST10Y',
      data: 'none' as const,
      bundle: 'BONDS',
      bundleName: 'US Treasuries',
    };
    expect(judgeMarketData({ instruments: [live, none] })).toMatchObject({
      state: 'missing',
      finding: 'No market data for UST10Y: subscribe to US Treasuries.',
    });
    expect(judgeMarketData({ instruments: [] })).toMatchObject({
      state: 'missing',
      action: { label: 'Add instruments to your watchlist', href: '/trade#watchlist' },
    });
  });
});

describe('API clients', () => {
  const bot: ClientRecord = {
    clientId: 'c1',
    name: 'My bot',
    lastRefreshAt: NOW - DAY,
    tokensExpiredAt: NOW - 3 * DAY,
    responseLostAt: NOW - 2 * DAY,
  };
  it('counts a drill as passed when a refresh followed both an expired token and a lost response', () => {
    expect(drillOf(bot)).toEqual({ lastDrillAt: NOW - 2 * DAY, drillPassed: true });
    expect(drillOf({ ...bot, lastRefreshAt: NOW - 2 * DAY })).toEqual({
      lastDrillAt: NOW - 2 * DAY,
      drillPassed: false,
    });
    expect(drillOf({ ...bot, responseLostAt: null })).toEqual({
      lastDrillAt: NOW - 3 * DAY,
      drillPassed: false,
    });
    expect(drillOf({ ...bot, tokensExpiredAt: null, responseLostAt: null })).toEqual({
      lastDrillAt: null,
      drillPassed: null,
    });
  });
  it('is ok with no clients, or each refreshed within 30 days after a drill within 90', () => {
    expect(judgeApiClients([], NOW)).toMatchObject({ state: 'ok', action: null });
    expect(judgeApiClients([bot], NOW)).toMatchObject({ state: 'ok', action: null });
  });
  it('warns without a recent passed drill, or a refresh longer than 30 days ago', () => {
    const undrilled = { ...bot, tokensExpiredAt: null, responseLostAt: null };
    expect(judgeApiClients([bot, undrilled], NOW)).toMatchObject({
      state: 'warn',
      action: { href: '/sandbox' },
    });
    const old = { ...bot, tokensExpiredAt: NOW - 100 * DAY, responseLostAt: NOW - 99 * DAY };
    expect(judgeApiClients([old], NOW).state).toBe('warn');
    expect(
      judgeApiClients(
        [
          {
            ...bot,
            lastRefreshAt: NOW - 31 * DAY,
            tokensExpiredAt: NOW - 33 * DAY,
            responseLostAt: NOW - 32 * DAY,
          },
        ],
        NOW,
      ).state,
    ).toBe('warn');
  });
  it('is missing when a client never refreshed', () => {
    const never = { ...bot, name: 'New bot', lastRefreshAt: null };
    expect(judgeApiClients([bot, never], NOW)).toMatchObject({
      state: 'missing',
      finding: expect.stringContaining('New bot never refreshed'),
    });
  });
});

describe('legal entity', () => {
  const account = {
    accountId: 'U1000001',
    entity: 'IBLLC',
    entityName: 'Interactive Brokers LLC',
    regulator: 'SEC/FINRA/CFTC',
    protection: 'SIPC',
    reviewedAt: NOW - 10 * DAY,
  };
  it('is ok when every account was reviewed within a year', () => {
    expect(judgeLegalEntity({ accounts: [account] }, NOW)).toMatchObject({ state: 'ok', action: null });
    expect(judgeLegalEntity({ accounts: [] }, NOW).state).toBe('ok');
  });
  it('warns when a review is older than a year, and is missing when an account was never reviewed', () => {
    const expired = { ...account, reviewedAt: NOW - 366 * DAY };
    expect(judgeLegalEntity({ accounts: [expired] }, NOW)).toMatchObject({
      state: 'warn',
      action: { label: 'Review', href: '/readiness#legal_entity' },
    });
    const never = { ...account, accountId: 'U1000002', reviewedAt: null };
    expect(judgeLegalEntity({ accounts: [expired, never] }, NOW)).toMatchObject({
      state: 'missing',
      finding: 'Not reviewed yet: U1000002 (Interactive Brokers LLC).',
    });
  });
});

describe('re-authentication', () => {
  it('names each session’s login path', () => {
    expect(loginPathOf({ channel: 'desktop', lastFactor: 'device_key' })).toBe('desktop_key');
    expect(loginPathOf({ channel: 'desktop', lastFactor: 'webauthn' })).toBe('desktop_security_key');
    expect(loginPathOf({ channel: 'mobile', lastFactor: 'device_pin' })).toBe('mobile_key');
    expect(loginPathOf({ channel: 'web', lastFactor: 'totp' })).toBe('web_totp');
    expect(loginPathOf({ channel: 'web', lastFactor: null })).toBe('other');
  });
  it('summarises each channel: samples, the latest, the median, the fastest path', () => {
    const samples = [
      { channel: 'web' as const, ms: 9_000, at: NOW - 3, path: 'web_totp' as const },
      { channel: 'web' as const, ms: 5_000, at: NOW - 2, path: 'web_push' as const },
      { channel: 'web' as const, ms: 7_000, at: NOW - 1, path: 'web_totp' as const },
    ];
    const [web, desktop] = reauthChannels({ samples });
    expect(web).toEqual({
      channel: 'web',
      samples: 3,
      lastMs: 7_000,
      p50Ms: 7_000,
      fastestPath: 'Web: password and push approval (two steps)',
      oneStep: false,
    });
    expect(desktop).toMatchObject({ samples: 0, lastMs: null, p50Ms: null });
    expect(desktop?.fastestPath).toBe('Desktop: pre-validated workstation key (one step)');
    expect(median([4, 1, 3, 2])).toBe(2);
  });
  it('is ok with a measured one-step path, and warns with two-step paths only or nothing measured', () => {
    const web = { channel: 'web' as const, ms: 9_000, at: NOW, path: 'web_totp' as const };
    const desk = { channel: 'desktop' as const, ms: 1_200, at: NOW, path: 'desktop_key' as const };
    expect(judgeReauthentication({ samples: [web, desk] })).toMatchObject({ state: 'ok', action: null });
    expect(judgeReauthentication({ samples: [web] })).toMatchObject({
      state: 'warn',
      finding: expect.stringContaining('two-step'),
    });
    expect(judgeReauthentication({ samples: [] })).toMatchObject({
      state: 'warn',
      finding: 'No re-authentication measured yet.',
    });
  });
});

describe('the overall state', () => {
  it('is the worst item’s', () => {
    expect(worstState(['ok', 'warn', 'ok'])).toBe('warn');
    expect(worstState(['warn', 'missing', 'ok'])).toBe('missing');
    expect(worstState([])).toBe('ok');
  });
});

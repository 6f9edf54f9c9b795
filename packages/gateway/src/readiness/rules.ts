/**
 * @module readiness/rules
 * Each checklist item's state from the facts gathered for it (readiness/facts.ts), as small pure functions: the
 * state (ok / warn / missing), what was found in words, and the one action that fixes it (a portal path). The
 * checklist is the broker's own advice at the end of its access material (issue 22) — enable push, keep a backup
 * way in, confirm market data before a planned trade, test token refresh in a sandbox and exercise it regularly,
 * review which legal entity holds the account — and its warning that the time to re-authenticate after a timeout
 * decides whether a time-sensitive order gets out. The thresholds (14, 30, 90 days, a year) are this gateway's
 * reading of "seen recently", "regularly" and "reviewed" (docs/readiness.md).
 */
import type {
  ReadinessAction,
  ReadinessChannel,
  ReadinessItem,
  ReadinessItemId,
  ReadinessState,
} from '@gatehouse/protocol';
import { CHANNEL_FASTEST, LOGIN_PATHS, type LoginPath } from './paths.js';

const DAY_MS = 86_400_000;
/** A push device seen within this long is one the user still carries. */
export const PUSH_SEEN_WITHIN_MS = 14 * DAY_MS;
/** A channel with a session that held trading within this long is one the user trades from. */
export const CHANNEL_USED_WITHIN_MS = 90 * DAY_MS;
/** An API client's refresh path succeeded within this long is one known to work. */
export const REFRESH_WITHIN_MS = 30 * DAY_MS;
/** A refresh drill passed within this long is recent enough ("exercise it regularly"). */
export const DRILL_WITHIN_MS = 90 * DAY_MS;
/** A legal-entity review stands this long. */
export const ENTITY_REVIEW_VALID_MS = 365 * DAY_MS;

export const ITEM_TEXT: Record<ReadinessItemId, { title: string; why: string }> = {
  push: {
    title: 'Push authentication',
    why: 'Approving a login on your phone is the fastest second factor, and it only works from a device you still carry.',
  },
  backup: {
    title: 'A backup way in',
    why: 'When your usual device is lost, flat or away, a second way to log in and recovery codes keep you from being locked out while positions are open.',
  },
  devices: {
    title: 'A pre-validated device per channel',
    why: 'A device validated in advance turns a re-login on that channel into one step instead of an identity check.',
  },
  market_data: {
    title: 'Market data for your watchlist',
    why: 'Without a live subscription you trade on delayed or no prices, and orders ask for confirmation at the worst moment.',
  },
  api_clients: {
    title: 'API clients’ token refresh',
    why: 'A program that cannot refresh its token after an expiry or a lost response stops trading unattended.',
  },
  legal_entity: {
    title: 'Your account’s legal entity',
    why: 'The entity that holds your account decides the regulator, the investor protection and which products you may trade.',
  },
  reauthentication: {
    title: 'Your re-authentication time',
    why: 'The time from losing trading to trading again decides whether a time-sensitive order still gets out.',
  },
};

/** What a rule decides for an item; the rest of the item (id, title, why, details) is assembled around it. */
export interface Judgement {
  state: ReadinessState;
  finding: string;
  action: ReadinessAction;
}

const ORDER: Record<ReadinessState, number> = { ok: 0, warn: 1, missing: 2 };

/** The worst of the items' states (ok for none). */
export function worstState(states: readonly ReadinessState[]): ReadinessState {
  return states.reduce<ReadinessState>((w, s) => (ORDER[s] > ORDER[w] ? s : w), 'ok');
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "3 days ago", "5 hours ago", "just now". */
export function ago(now: number, at: number): string {
  const ms = Math.max(0, now - at);
  if (ms >= DAY_MS) return `${plural(Math.floor(ms / DAY_MS), 'day')} ago`;
  if (ms >= 3_600_000) return `${plural(Math.floor(ms / 3_600_000), 'hour')} ago`;
  if (ms >= 60_000) return `${plural(Math.floor(ms / 60_000), 'minute')} ago`;
  return 'just now';
}

// ---- push ------------------------------------------------------------------------------------------------------

export interface PushFacts {
  devices: { id: string; name: string; lastSeenAt: number | null }[];
}

export function judgePush(f: PushFacts, now: number): Judgement {
  const action = { label: 'Set up push on your phone', href: '/security#push' };
  if (f.devices.length === 0) return { state: 'missing', finding: 'No push device is enrolled.', action };
  const seen = [...f.devices].sort(
    (a, b) => (b.lastSeenAt ?? 0) - (a.lastSeenAt ?? 0),
  )[0] as PushFacts['devices'][0];
  const when = seen.lastSeenAt === null ? 'never seen' : `last seen ${ago(now, seen.lastSeenAt)}`;
  if (seen.lastSeenAt !== null && now - seen.lastSeenAt <= PUSH_SEEN_WITHIN_MS)
    return { state: 'ok', finding: `Enrolled on ${seen.name}, ${when}.`, action: null };
  return {
    state: 'warn',
    finding: `Enrolled on ${seen.name}, ${when}: open the app on it, or enrol the phone you carry.`,
    action: { label: 'Check your push devices', href: '/security#push' },
  };
}

// ---- backup ----------------------------------------------------------------------------------------------------

export interface BackupFacts {
  ways: string[];
  recoveryCodesLeft: number;
}

export function judgeBackup(f: BackupFacts): Judgement {
  const enoughWays = f.ways.length >= 2;
  const codes = f.recoveryCodesLeft > 0;
  const ways =
    f.ways.length === 0
      ? 'No second factor'
      : `${plural(f.ways.length, 'way')} to log in (${f.ways.join(', ')})`;
  const finding = `${ways}; ${codes ? plural(f.recoveryCodesLeft, 'recovery code') : 'no recovery codes'} left.`;
  const state: ReadinessState = enoughWays && codes ? 'ok' : enoughWays || codes ? 'warn' : 'missing';
  const action: ReadinessAction =
    state === 'ok'
      ? null
      : !enoughWays
        ? { label: 'Add a second way to log in', href: '/security#factors' }
        : { label: 'Generate recovery codes', href: '/security#recovery' };
  return { state, finding, action };
}

// ---- devices ---------------------------------------------------------------------------------------------------

export interface DevicesFacts {
  channels: { channel: ReadinessChannel; used: boolean; device: { id: string; name: string } | null }[];
}

export function judgeDevices(f: DevicesFacts): Judgement {
  const used = f.channels.filter((c) => c.used);
  const ready = used.filter((c) => c.device !== null);
  const add = { label: 'Pre-validate a device', href: '/security#devices' };
  if (used.length === 0)
    return {
      state: 'warn',
      finding: 'You have not traded yet on any channel in the last 90 days.',
      action: add,
    };
  const names = (cs: typeof used) => cs.map((c) => c.channel).join(', ');
  if (ready.length === used.length)
    return {
      state: 'ok',
      finding: `Every channel you trade from has a pre-validated device (${names(used)}).`,
      action: null,
    };
  const lacking = names(used.filter((c) => c.device === null));
  return {
    state: ready.length === 0 ? 'missing' : 'warn',
    finding: `No pre-validated device for ${lacking}, where you traded in the last 90 days.`,
    action: add,
  };
}

// ---- market data -----------------------------------------------------------------------------------------------

/** Refusals that describe the session asking (it does not hold trading now), not the instrument. */
export const SESSION_REFUSALS: ReadonlySet<string> = new Set([
  'BROKERAGE_REQUIRED',
  'SESSION_RESET',
  'SESSION_COMPETING',
  'STEP_UP_REQUIRED',
  'DEVICE_KEY_REQUIRED',
]);

export interface MarketDataFacts {
  instruments: {
    instrumentId: number;
    symbol: string;
    data: 'live' | 'delayed' | 'none';
    bundle: string | null;
    bundleName: string | null;
    whatIf: { outcome: 'accepted' | 'confirmation_required' | 'refused'; reason: string | null };
  }[];
}

export function judgeMarketData(f: MarketDataFacts): Judgement {
  if (f.instruments.length === 0)
    return {
      state: 'missing',
      finding: 'Your watchlist is empty: nothing to check before a planned trade.',
      action: { label: 'Add instruments to your watchlist', href: '/trade#watchlist' },
    };
  const none = f.instruments.filter((i) => i.data === 'none');
  const delayed = f.instruments.filter((i) => i.data === 'delayed');
  const asked = f.instruments.filter(
    (i) =>
      i.whatIf.outcome === 'confirmation_required' ||
      (i.whatIf.outcome === 'refused' && !SESSION_REFUSALS.has(i.whatIf.reason ?? '')),
  );
  const symbols = (is: typeof none) => is.map((i) => i.symbol).join(', ');
  const bundles = [...new Set([...none, ...delayed].map((i) => i.bundleName).filter((b) => b !== null))];
  const subscribe = { label: 'Subscribe to market data', href: '/account#market-data' };
  if (none.length > 0)
    return {
      state: 'missing',
      finding: `No market data for ${symbols(none)}${bundles.length > 0 ? `: subscribe to ${bundles.join(', ')}` : ''}.`,
      action: subscribe,
    };
  if (delayed.length > 0)
    return {
      state: 'warn',
      finding: `Delayed prices for ${symbols(delayed)}: subscribe to ${bundles.join(', ')} for live data.`,
      action: subscribe,
    };
  if (asked.length > 0)
    return {
      state: 'warn',
      finding: `Live data for all ${plural(f.instruments.length, 'instrument')}, but a one-lot buy of ${symbols(asked)} would not go straight through.`,
      action: { label: 'Open the trade ticket', href: '/trade#watchlist' },
    };
  return {
    state: 'ok',
    finding: `Live data for all ${plural(f.instruments.length, 'instrument')} on your watchlist.`,
    action: null,
  };
}

// ---- API clients -----------------------------------------------------------------------------------------------

/** A client's refresh path as recorded (oauth/refresh-record.ts). */
export interface ClientRecord {
  clientId: string;
  name: string;
  lastRefreshAt: number | null;
  tokensExpiredAt: number | null;
  responseLostAt: number | null;
}

/**
 * The client's last refresh drill: both faults (an expired token, a lost refresh response) struck, and a refresh
 * succeeded after the later of them — passed, at that later fault's time; struck without a refresh since — not
 * passed; no fault ever — no drill (null).
 */
export function drillOf(c: ClientRecord): { lastDrillAt: number | null; drillPassed: boolean | null } {
  if (c.tokensExpiredAt === null && c.responseLostAt === null)
    return { lastDrillAt: null, drillPassed: null };
  const last = Math.max(c.tokensExpiredAt ?? 0, c.responseLostAt ?? 0);
  const passed =
    c.tokensExpiredAt !== null &&
    c.responseLostAt !== null &&
    c.lastRefreshAt !== null &&
    c.lastRefreshAt > last;
  return { lastDrillAt: last, drillPassed: passed };
}

export function judgeApiClients(clients: readonly ClientRecord[], now: number): Judgement {
  if (clients.length === 0) return { state: 'ok', finding: 'You have no API clients.', action: null };
  const never = clients.filter((c) => c.lastRefreshAt === null);
  const names = (cs: readonly ClientRecord[]) => cs.map((c) => c.name).join(', ');
  if (never.length > 0)
    return {
      state: 'missing',
      finding: `${names(never)} never refreshed its token: its refresh path is untested.`,
      action: { label: 'Run a refresh drill', href: '/sandbox' },
    };
  const stale = clients.filter((c) => {
    const drill = drillOf(c);
    return (
      now - (c.lastRefreshAt ?? 0) > REFRESH_WITHIN_MS ||
      drill.drillPassed !== true ||
      now - (drill.lastDrillAt ?? 0) > DRILL_WITHIN_MS
    );
  });
  if (stale.length > 0)
    return {
      state: 'warn',
      finding: `${names(stale)}: no passed drill of a token expiry and a lost refresh response in the last 90 days (or no refresh in 30).`,
      action: { label: 'Run a refresh drill', href: '/sandbox' },
    };
  return {
    state: 'ok',
    finding: `${plural(clients.length, 'client')} refreshed recently and passed a refresh drill.`,
    action: null,
  };
}

// ---- legal entity ----------------------------------------------------------------------------------------------

export interface EntityFacts {
  accounts: {
    accountId: string;
    entity: string;
    entityName: string;
    regulator: string;
    protection: string;
    /** The latest review of this entity for this account by the user (null: never, or of another entity). */
    reviewedAt: number | null;
  }[];
}

export function judgeLegalEntity(f: EntityFacts, now: number): Judgement {
  const action = { label: 'Review', href: '/readiness#legal_entity' };
  if (f.accounts.length === 0)
    return { state: 'ok', finding: 'You have no accounts to review.', action: null };
  const never = f.accounts.filter((a) => a.reviewedAt === null);
  const expired = f.accounts.filter(
    (a) => a.reviewedAt !== null && now - a.reviewedAt > ENTITY_REVIEW_VALID_MS,
  );
  const ids = (as: typeof never) => as.map((a) => `${a.accountId} (${a.entityName})`).join(', ');
  if (never.length > 0) return { state: 'missing', finding: `Not reviewed yet: ${ids(never)}.`, action };
  if (expired.length > 0)
    return { state: 'warn', finding: `Reviewed more than a year ago: ${ids(expired)}.`, action };
  return { state: 'ok', finding: `Reviewed within the last year: ${ids(f.accounts)}.`, action: null };
}

// ---- re-authentication -----------------------------------------------------------------------------------------

export interface ReauthFacts {
  /** The user's recorded samples, any order. */
  samples: { channel: ReadinessChannel; ms: number; at: number; path: LoginPath }[];
}

/** The median (the lower middle one of an even count) of `values`; null for none. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
}

const CHANNELS: readonly ReadinessChannel[] = ['web', 'desktop', 'mobile'];

/** Per channel: how many samples, the latest, the median, and the path of the fastest (or the channel's best). */
export function reauthChannels(f: ReauthFacts) {
  return CHANNELS.map((channel) => {
    const mine = f.samples.filter((s) => s.channel === channel);
    const latest = [...mine].sort((a, b) => b.at - a.at)[0];
    const fastest = [...mine].sort((a, b) => a.ms - b.ms)[0];
    const path = fastest?.path ?? CHANNEL_FASTEST[channel];
    return {
      channel,
      samples: mine.length,
      lastMs: latest?.ms ?? null,
      p50Ms: median(mine.map((s) => s.ms)),
      fastestPath: LOGIN_PATHS[path].words,
      oneStep: mine.some((s) => LOGIN_PATHS[s.path].oneStep),
    };
  });
}

export function judgeReauthentication(f: ReauthFacts): Judgement {
  const channels = reauthChannels(f).filter((c) => c.samples > 0);
  const action = { label: 'Pre-validate a device', href: '/security#devices' };
  if (channels.length === 0) return { state: 'warn', finding: 'No re-authentication measured yet.', action };
  const words = channels.map((c) => `${c.channel} ${c.p50Ms} ms (median of ${c.samples})`).join(', ');
  if (channels.some((c) => c.oneStep))
    return { state: 'ok', finding: `Back to trading in ${words}; you have a one-step path.`, action: null };
  return { state: 'warn', finding: `Back to trading in ${words}, only through two-step logins.`, action };
}

/** Assembles an item. */
export function item<I extends ReadinessItemId>(
  id: I,
  judgement: Judgement,
  details: Extract<ReadinessItem, { id: I }>['details'],
): Extract<ReadinessItem, { id: I }> {
  return { id, ...ITEM_TEXT[id], ...judgement, details } as Extract<ReadinessItem, { id: I }>;
}

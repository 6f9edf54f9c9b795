/**
 * This session's trading capability. The web session asks for the brokerage session without taking it from
 * another (`compete: false`). When another session holds it, or takes it over later (the stream says `competing`),
 * the top bar says "Read-only", the order ticket is disabled with the reason, and a banner says what this session can
 * do (view and cancel orders, not place them), who holds trading — when and from where it was last seen, so a tab of
 * one's own is recognised — and offers "Trade here": the person decides, as at a real broker's portal.
 *
 * Trading is given up when it is no longer used: at sign-out (the gateway releases it) and when the last page of this
 * session in the browser closes (`pagehide`: a beacon to the release route), so the next login trades at once.
 */
import type { MonitoredSession, SessionState } from '@gatehouse/protocol';
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, api, beacon, describeError } from './api.js';
import { StepUp } from './components.js';
import { focusPageHeading } from './focus.js';
import { ago } from './format.js';
import { peerPages } from './peer-pages.js';
import { useSession } from './session.js';
import { useStream } from './stream.js';

type Status = 'checking' | 'trading' | 'held_elsewhere' | 'competing' | 'read_only' | 'step_up' | 'error';

/** The session holding trading, as the gateway describes it (always one of the user's own). */
export interface Holder {
  channel: string;
  device: string;
  lastSeenAt: string | null;
  ip: string | null;
  /** The holder runs in this very browser (another tab, or one closed without signing out). */
  sameDevice: boolean;
}

interface TradingStateValue {
  status: Status;
  message: string | null;
  holder: Holder | null;
  /** This session may place orders now. */
  canPlace: boolean;
  /** Why it may not, in words for the order ticket; null when it may. */
  placeBlockedReason: string | null;
  takeOver(): Promise<void>;
  /** Asks again without taking trading from another session (after a step-up). */
  retry(): Promise<void>;
}

const TradingStateContext = createContext<TradingStateValue | null>(null);

const RELEASE = '/v1/session/brokerage/release';

const CHANNEL_NAMES: Record<string, string> = {
  web: 'web session',
  mobile: 'mobile app',
  desktop: 'desktop app',
  api: 'program',
  cpapi: 'Client Portal API session',
};

/** "your web session on Chrome on Linux, last seen 2 min ago from 127.0.0.1" */
export function describeHolder(holder: Holder, now = Date.now()): string {
  const what = `your ${CHANNEL_NAMES[holder.channel] ?? `${holder.channel} session`}`;
  // A program is named by its client and key, not a device it runs on.
  const program = holder.channel === 'api' || holder.channel === 'cpapi';
  const where = program
    ? `(${holder.device})`
    : holder.sameDevice
      ? `in this browser (${holder.device})`
      : `on ${holder.device}`;
  const seen = holder.lastSeenAt === null ? '' : `, last seen ${ago(holder.lastSeenAt, now)}`;
  const from = holder.ip === null ? '' : ` from ${holder.ip}`;
  return `${what} ${where}${seen}${from}`;
}

function holderFromDetails(details: Record<string, unknown>): Holder | null {
  const { channel, device, lastSeenAt, ip, sameDevice } = details;
  if (typeof channel !== 'string') return null;
  return {
    channel,
    device: typeof device === 'string' ? device : 'an unknown device',
    lastSeenAt: typeof lastSeenAt === 'string' ? lastSeenAt : null,
    ip: typeof ip === 'string' ? ip : null,
    sameDevice: sameDevice === true,
  };
}

/** The session that took trading over, from the user's own session list. */
async function holderFromSessions(sessionId: string): Promise<Holder | null> {
  const { sessions } = await api<{ sessions: MonitoredSession[] }>('GET', '/v1/sessions');
  const holder = sessions.find((s) => s.id === sessionId);
  const current = sessions.find((s) => s.current);
  if (holder === undefined) return null;
  return {
    channel: holder.channel,
    device: holder.device?.name ?? holder.userAgent,
    lastSeenAt: holder.lastSeenAt,
    ip: holder.ip,
    sameDevice: holder.device !== null && holder.device.id === current?.device?.id,
  };
}

export function TradingStateProvider({ children }: { children: React.ReactNode }) {
  const [status, setStatus] = useState<Status>('checking');
  const [message, setMessage] = useState<string | null>(null);
  const [holder, setHolder] = useState<Holder | null>(null);
  const sessionId = useSession().me?.session.id;
  const trading = useRef(false);
  trading.current = status === 'trading';

  const acquire = useCallback(async (compete: boolean) => {
    try {
      const state = await api<SessionState>('POST', '/v1/session/brokerage', { compete });
      setStatus(state.tier === 'brokerage' ? 'trading' : 'read_only');
      setMessage(null);
      setHolder(null);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'BROKERAGE_HELD_ELSEWHERE') {
        setStatus('held_elsewhere');
        setMessage(null);
        setHolder(holderFromDetails(error.details));
        return;
      }
      setStatus(error instanceof ApiError && error.code === 'STEP_UP_REQUIRED' ? 'step_up' : 'error');
      setMessage(describeError(error));
    }
  }, []);

  useEffect(() => {
    void acquire(false);
  }, [acquire]);

  // The last page of this session to close gives trading up; one restored from the browser's cache asks again.
  useEffect(() => {
    if (sessionId === undefined) return;
    const peers = peerPages(sessionId);
    let released = false;
    const hide = () => {
      peers.leave();
      if (trading.current && !peers.othersOpen()) released = beacon(RELEASE);
    };
    const show = (event: PageTransitionEvent) => {
      peers.back();
      if (event.persisted && released) {
        released = false;
        void acquire(false);
      }
    };
    window.addEventListener('pagehide', hide);
    window.addEventListener('pageshow', show);
    return () => {
      window.removeEventListener('pagehide', hide);
      window.removeEventListener('pageshow', show);
      peers.close();
    };
  }, [sessionId, acquire]);

  useStream((m) => {
    if (m.topic !== 'session') return;
    if (m.type === 'competing') {
      setStatus('competing');
      setHolder(null);
      const by = m.bySessionId;
      if (typeof by === 'string') void holderFromSessions(by).then(setHolder, () => setHolder(null));
    }
    if (m.type === 'brokerage_acquired') {
      setStatus('trading');
      setHolder(null);
    }
    if (m.type === 'brokerage_released' || m.type === 'reset') {
      setStatus('read_only');
      setHolder(null);
      setMessage(m.type === 'reset' ? 'Trading ended at the daily reset.' : 'This session gave trading up.');
    }
  });

  const value = useMemo(() => {
    const canPlace = status === 'trading';
    return {
      status,
      message,
      holder,
      canPlace,
      placeBlockedReason: canPlace ? null : blockedReason(status, holder, message),
      takeOver: () => acquire(true),
      retry: () => acquire(false),
    };
  }, [status, message, holder, acquire]);
  return <TradingStateContext.Provider value={value}>{children}</TradingStateContext.Provider>;
}

/** Who holds trading instead of this session, as a sentence ("Trading is held by your web session on …"). */
function heldBy(status: Status, holder: Holder | null, message: string | null): string {
  if (holder !== null) return `Trading is held by ${describeHolder(holder)}.`;
  if (status === 'read_only') return message ?? '';
  return 'Trading is held by another session of yours.';
}

/** Why this session cannot place orders, in words for the order ticket. */
function blockedReason(status: Status, holder: Holder | null, message: string | null): string {
  if (status === 'checking') return 'Checking whether this session may trade…';
  if (status === 'step_up' || status === 'error')
    return `This session cannot trade yet. ${message ?? ''}`.trim();
  const held = heldBy(status, holder, message);
  const lowered = held === '' ? '' : `${held.charAt(0).toLowerCase()}${held.slice(1)} `;
  return `Read-only: ${lowered}You can view and cancel orders here, not place them.`;
}

export function useTradingState(): TradingStateValue {
  const value = useContext(TradingStateContext);
  if (value === null) throw new Error('useTradingState outside TradingStateProvider');
  return value;
}

/** The session's tier in the top bar: "Trading" or "Read-only", announced when it changes. */
export function TierStatus() {
  const { status } = useTradingState();
  const label = status === 'trading' ? 'Trading' : status === 'checking' ? 'Checking…' : 'Read-only';
  return (
    <span
      className={`tier ${status === 'trading' ? 'trading' : 'read-only'}`}
      role="status"
      aria-label="This session"
      data-testid="tier"
    >
      {label}
    </span>
  );
}

/** Refreshes "last seen … ago" while shown. */
function useMinuteTick(): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((n) => n + 1), 30_000);
    return () => clearInterval(timer);
  }, []);
}

/** Says when this session may not trade and what it can do, with the action that changes it; under the navigation. */
export function TradingBanner() {
  const { status, message, holder, takeOver, retry } = useTradingState();
  const [busy, setBusy] = useState(false);
  const [verifying, setVerifying] = useState(false);
  useMinuteTick();
  if (status === 'step_up' || status === 'error') {
    return (
      <div className="banner warning" role="alert">
        <p>This session cannot trade yet. {message}</p>
        {status === 'step_up' &&
          (verifying ? (
            <StepUp
              onCancel={() => setVerifying(false)}
              onDone={() => {
                setVerifying(false);
                void retry();
              }}
            />
          ) : (
            <button type="button" onClick={() => setVerifying(true)}>
              Verify it is you
            </button>
          ))}
      </div>
    );
  }
  if (status !== 'competing' && status !== 'held_elsewhere' && status !== 'read_only') return null;
  return (
    <div className="banner warning" role="alert">
      <p>
        {status === 'competing' ? 'Another session took trading over. ' : ''}
        This session can view and cancel orders, not place them. {heldBy(status, holder, message)}
      </p>
      <button
        type="button"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          // The banner goes once trading is here: focus moves to the page's heading, not the page's body.
          void takeOver()
            .then(focusPageHeading)
            .finally(() => setBusy(false));
        }}
      >
        Trade here
      </button>
    </div>
  );
}

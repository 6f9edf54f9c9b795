/**
 * This session's trading capability. The web session asks for the brokerage session without taking it from
 * another (`compete: false`); when another session holds it, or takes it over later (the stream says `competing`),
 * a banner says so and offers to take trading back — the person decides, as at a real broker's portal.
 */
import type { SessionState } from '@gatehouse/protocol';
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ApiError, api, describeError } from './api.js';
import { useStream } from './stream.js';

type Status = 'checking' | 'trading' | 'held_elsewhere' | 'competing' | 'step_up' | 'error';

interface TradingStateValue {
  status: Status;
  message: string | null;
  takeOver(): Promise<void>;
}

const TradingStateContext = createContext<TradingStateValue | null>(null);

export function TradingStateProvider({ children }: { children: React.ReactNode }) {
  const [status, setStatus] = useState<Status>('checking');
  const [message, setMessage] = useState<string | null>(null);

  const acquire = useCallback(async (compete: boolean) => {
    try {
      const state = await api<SessionState>('POST', '/v1/session/brokerage', { compete });
      setStatus(state.tier === 'brokerage' ? 'trading' : 'held_elsewhere');
      setMessage(null);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'BROKERAGE_HELD_ELSEWHERE') setStatus('held_elsewhere');
      else if (error instanceof ApiError && error.code === 'STEP_UP_REQUIRED') setStatus('step_up');
      else setStatus('error');
      setMessage(describeError(error));
    }
  }, []);

  useEffect(() => {
    void acquire(false);
  }, [acquire]);

  useStream((m) => {
    if (m.topic !== 'session') return;
    if (m.type === 'competing') setStatus('competing');
    if (m.type === 'brokerage_acquired') setStatus('trading');
  });

  const value = useMemo(
    () => ({ status, message, takeOver: () => acquire(true) }),
    [status, message, acquire],
  );
  return <TradingStateContext.Provider value={value}>{children}</TradingStateContext.Provider>;
}

export function useTradingState(): TradingStateValue {
  const value = useContext(TradingStateContext);
  if (value === null) throw new Error('useTradingState outside TradingStateProvider');
  return value;
}

/** Says when this session may not trade, with the action that changes it; shown under the navigation. */
export function TradingBanner() {
  const { status, message, takeOver } = useTradingState();
  const [busy, setBusy] = useState(false);
  if (status !== 'competing' && status !== 'held_elsewhere') return null;
  return (
    <div className="banner warning" role="alert">
      <p>
        {status === 'competing'
          ? 'Another session took over trading. This session is read-only: it can look, but not place orders.'
          : 'Trading is active in another session. This session is read-only.'}
        {message !== null && status === 'held_elsewhere' ? ` ${message}` : ''}
      </p>
      <button
        type="button"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          void takeOver().finally(() => setBusy(false));
        }}
      >
        Take over trading
      </button>
    </div>
  );
}

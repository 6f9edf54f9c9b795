/**
 * This session's trading capability. The web session asks for the brokerage session without taking it from
 * another (`compete: false`); when another session holds it, or takes it over later (the stream says `competing`),
 * a banner says so and offers to take trading back — the person decides, as at a real broker's portal.
 */
import type { SessionState } from '@gatehouse/protocol';
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ApiError, api, describeError } from './api.js';
import { StepUp } from './components.js';
import { useStream } from './stream.js';

type Status = 'checking' | 'trading' | 'held_elsewhere' | 'competing' | 'step_up' | 'error';

interface TradingStateValue {
  status: Status;
  message: string | null;
  takeOver(): Promise<void>;
  /** Asks again without taking trading from another session (after a step-up). */
  retry(): Promise<void>;
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
      if (error instanceof ApiError && error.code === 'BROKERAGE_HELD_ELSEWHERE') {
        setStatus('held_elsewhere');
        const { channel, device } = error.details;
        setMessage(typeof channel === 'string' ? `It is the ${channel} session on ${String(device)}.` : null);
        return;
      }
      setStatus(error instanceof ApiError && error.code === 'STEP_UP_REQUIRED' ? 'step_up' : 'error');
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
    () => ({ status, message, takeOver: () => acquire(true), retry: () => acquire(false) }),
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
  const { status, message, takeOver, retry } = useTradingState();
  const [busy, setBusy] = useState(false);
  const [verifying, setVerifying] = useState(false);
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

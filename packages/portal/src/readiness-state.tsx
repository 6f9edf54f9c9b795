/**
 * The signed-in user's access readiness (`GET /v1/readiness`), shared by the navigation (the count of missing items
 * beside its link), the Readiness page, the watchlist on the Trade page, and the landing after a login (the
 * Readiness page first while anything is missing). It is checked again on every move to another page, so a fix
 * made on the Security or Trade page shows when the person comes back.
 */
import type { AccessReadiness, ReadinessItem, ReadinessState } from '@gatehouse/protocol';
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import { api } from './api.js';
import { useLocation } from './router.js';

interface ReadinessContextValue {
  /** undefined until the first answer; null when the gateway could not answer (the error is in `error`). */
  readiness: AccessReadiness | null | undefined;
  error: unknown;
  /** Checks again; resolves with the new answer (null on a failure). */
  reload(): Promise<AccessReadiness | null>;
}

const ReadinessContext = createContext<ReadinessContextValue | null>(null);

export function ReadinessProvider({ children }: { children: React.ReactNode }) {
  const [readiness, setReadiness] = useState<AccessReadiness | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const { path } = useLocation();
  // Only the latest check is shown: an earlier one answering late does not overwrite it.
  const latest = useRef(0);
  const reload = useCallback(async () => {
    const ticket = ++latest.current;
    try {
      const answer = await api<AccessReadiness>('GET', '/v1/readiness');
      if (ticket === latest.current) {
        setReadiness(answer);
        setError(null);
      }
      return answer;
    } catch (caught) {
      if (ticket === latest.current) {
        setReadiness(null);
        setError(caught);
      }
      return null;
    }
  }, []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: each move to another page checks again
  useEffect(() => {
    void reload();
  }, [reload, path]);
  const value = useMemo(() => ({ readiness, error, reload }), [readiness, error, reload]);
  return <ReadinessContext.Provider value={value}>{children}</ReadinessContext.Provider>;
}

export function useReadiness(): ReadinessContextValue {
  const value = useContext(ReadinessContext);
  if (value === null) throw new Error('useReadiness outside ReadinessProvider');
  return value;
}

/** How many items are missing (the red ones). */
export function missingCount(readiness: AccessReadiness | null | undefined): number {
  return readiness?.items.filter((i) => i.state === 'missing').length ?? 0;
}

/** One item of the answer, by id. */
export function readinessItem<I extends ReadinessItem['id']>(
  readiness: AccessReadiness | null | undefined,
  id: I,
): Extract<ReadinessItem, { id: I }> | undefined {
  return readiness?.items.find((i): i is Extract<ReadinessItem, { id: I }> => i.id === id);
}

/**
 * Where a login lands: the page it was asked to go to (`next`, a path of this portal — never another origin's
 * `//host`), else Readiness while an item is missing, else Trade (also when the check could not be made: null).
 * Undefined while the check is still under way.
 */
export function landingAfterLogin(
  next: string | null,
  readiness: AccessReadiness | null | undefined,
): string | undefined {
  if (next?.startsWith('/') === true && !next.startsWith('//')) return next;
  if (readiness === undefined) return undefined;
  return readiness?.state === 'missing' ? '/readiness' : '/trade';
}

const WAY_NAMES: Record<string, string> = {
  totp: 'Authenticator app',
  webauthn: 'Security key',
  push: 'Mobile device',
  sms: 'Text message',
  recovery_code: 'Recovery codes',
};

/** A way to log in as a person reads it: `webauthn:YubiKey` → "Security key: YubiKey". */
export function wayName(way: string): string {
  const [type = '', ...rest] = way.split(':');
  const name = WAY_NAMES[type] ?? type;
  return rest.length === 0 ? name : `${name}: ${rest.join(':')}`;
}

/** A state in words and with its own mark, so that it never rests on colour alone. */
export const STATE_TEXT: Record<ReadinessState, { mark: string; text: string }> = {
  ok: { mark: '✓', text: 'OK' },
  warn: { mark: '!', text: 'Check' },
  missing: { mark: '✗', text: 'Missing' },
};

/** A state's mark and word, as a badge. */
export function StateBadge({ state }: { state: ReadinessState }) {
  const { mark, text } = STATE_TEXT[state];
  return (
    <span className={`state ${state}`} data-state={state}>
      <span aria-hidden="true">{mark}</span> {text}
    </span>
  );
}

/**
 * Who is logged in, shared by every page: the `GET /v1/session` answer, its CSRF token, and the reason the last
 * session ended (shown on the login page).
 */
import type { WhoAmI } from '@gatehouse/protocol';
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ApiError, api, onSessionEnded, setCsrfToken } from './api.js';

interface SessionContextValue {
  /** undefined while loading; null when logged out. */
  me: WhoAmI | null | undefined;
  endedReason: string | null;
  refresh(): Promise<WhoAmI | null>;
  ended(reason: string | null): void;
}

const SessionContext = createContext<SessionContextValue | null>(null);

export function SessionProvider({ children }: { children: React.ReactNode }) {
  const [me, setMe] = useState<WhoAmI | null | undefined>(undefined);
  const [endedReason, setEndedReason] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    try {
      const who = await api<WhoAmI>('GET', '/v1/session');
      setCsrfToken(who.csrfToken);
      setMe(who);
      setEndedReason(null);
      return who;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        setCsrfToken(null);
        setMe(null);
        return null;
      }
      throw error;
    }
  }, []);

  const ended = useCallback((reason: string | null) => {
    setCsrfToken(null);
    setMe(null);
    setEndedReason(reason);
  }, []);

  useEffect(() => {
    onSessionEnded((error) => ended(error.message));
    void refresh();
  }, [refresh, ended]);

  const value = useMemo(() => ({ me, endedReason, refresh, ended }), [me, endedReason, refresh, ended]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (value === null) throw new Error('useSession outside SessionProvider');
  return value;
}

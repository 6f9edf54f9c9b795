/**
 * The session's live channel (`/v1/stream`, authenticated by the session cookie). Pages subscribe to what they
 * show; a dropped socket reconnects with a bounded backoff (at once when a step-up renewed the session's cookie),
 * and a `revoked` or `expired` message ends the session in the page at once.
 */
import type { StreamMessage } from '@gatehouse/protocol';
import { createContext, useCallback, useContext, useEffect, useMemo, useRef } from 'react';
import { useSession } from './session.js';

type Listener = (message: StreamMessage) => void;

interface StreamChannel {
  listeners: Set<Listener>;
  /** Streams quotes for these instruments as the account sees them (one watch at a time); returns the unwatch. */
  watchQuotes(instruments: number[], accountId: string): () => void;
}

const StreamContext = createContext<StreamChannel | null>(null);

const ENDED_MESSAGES: Record<string, string> = {
  revoked: 'This session was signed out from another session.',
  expired: 'This session expired. Log in again.',
};

export function StreamProvider({ children }: { children: React.ReactNode }) {
  const listeners = useRef(new Set<Listener>()).current;
  const socketRef = useRef<WebSocket | null>(null);
  // The quotes being watched: sent when set, and again on every reconnect.
  const watching = useRef<{ instruments: number[]; accountId: string } | null>(null);
  const { me, ended } = useSession();
  const sessionId = me?.session.id;

  const send = useCallback((message: Record<string, unknown>) => {
    const socket = socketRef.current;
    if (socket !== null && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }, []);
  const sendWatch = useCallback(() => {
    const watch = watching.current;
    if (watch !== null) send({ op: 'subscribe', topic: 'marketdata', ...watch });
  }, [send]);

  useEffect(() => {
    if (sessionId === undefined) return;
    let socket: WebSocket | null = null;
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const open = () => {
      const url = `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/v1/stream`;
      socket = new WebSocket(url);
      socketRef.current = socket;
      socket.onopen = () => {
        attempt = 0;
        sendWatch();
      };
      socket.onmessage = (event) => {
        const message = JSON.parse(String(event.data)) as StreamMessage;
        const endedText = message.topic === 'session' ? ENDED_MESSAGES[message.type] : undefined;
        if (endedText !== undefined) {
          stopped = true;
          ended(endedText);
          return;
        }
        for (const listener of listeners) listener(message);
      };
      socket.onclose = (event) => {
        if (stopped) return;
        if (event.code === 4001 || event.code === 4002) {
          ended(ENDED_MESSAGES[event.code === 4001 ? 'revoked' : 'expired'] ?? null);
          return;
        }
        // 4003: a step-up gave the session a new cookie and ended the token this socket was opened with.
        if (event.code === 4003) {
          open();
          return;
        }
        attempt += 1;
        timer = setTimeout(open, Math.min(10_000, 500 * 2 ** attempt));
      };
    };
    open();
    return () => {
      stopped = true;
      clearTimeout(timer);
      socket?.close();
    };
  }, [sessionId, ended, listeners, sendWatch]);

  const channel = useMemo<StreamChannel>(
    () => ({
      listeners,
      watchQuotes(instruments, accountId) {
        const watch = { instruments, accountId };
        watching.current = watch;
        sendWatch();
        return () => {
          if (watching.current !== watch) return;
          watching.current = null;
          send({ op: 'unsubscribe', topic: 'marketdata' });
        };
      },
    }),
    [listeners, send, sendWatch],
  );
  return <StreamContext.Provider value={channel}>{children}</StreamContext.Provider>;
}

/** Calls `listener` for every stream message while the component is mounted. */
export function useStream(listener: Listener): void {
  const listeners = useContext(StreamContext)?.listeners ?? null;
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(() => {
    if (listeners === null) return;
    const forward: Listener = (message) => latest.current(message);
    listeners.add(forward);
    return () => {
      listeners.delete(forward);
    };
  }, [listeners]);
}

/** Watches quotes on the stream while the component is mounted (the last watch wins). */
export function useQuoteWatch(instrumentId: number, accountId: string): void {
  const channel = useContext(StreamContext);
  useEffect(() => channel?.watchQuotes([instrumentId], accountId), [channel, instrumentId, accountId]);
}

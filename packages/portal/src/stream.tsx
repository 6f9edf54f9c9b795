/**
 * The session's live channel (`/v1/stream`, authenticated by the session cookie). Pages subscribe to what they
 * show; a dropped socket reconnects with a bounded backoff, and a `revoked` or `expired` message ends the session
 * in the page at once.
 */
import type { StreamMessage } from '@gatehouse/protocol';
import { createContext, useContext, useEffect, useRef } from 'react';
import { useSession } from './session.js';

type Listener = (message: StreamMessage) => void;

const StreamContext = createContext<Set<Listener> | null>(null);

const ENDED_MESSAGES: Record<string, string> = {
  revoked: 'This session was signed out from another session.',
  expired: 'This session expired. Log in again.',
};

export function StreamProvider({ children }: { children: React.ReactNode }) {
  const listeners = useRef(new Set<Listener>()).current;
  const { me, ended } = useSession();
  const sessionId = me?.session.id;

  useEffect(() => {
    if (sessionId === undefined) return;
    let socket: WebSocket | null = null;
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const open = () => {
      const url = `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/v1/stream`;
      socket = new WebSocket(url);
      socket.onopen = () => {
        attempt = 0;
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
  }, [sessionId, ended, listeners]);

  return <StreamContext.Provider value={listeners}>{children}</StreamContext.Provider>;
}

/** Calls `listener` for every stream message while the component is mounted. */
export function useStream(listener: Listener): void {
  const listeners = useContext(StreamContext);
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

/**
 * The other open pages of this portal in this browser. Every tab of one browser shares the session cookie, so when
 * one tab closes, the session lives on in the others: a closing page gives trading up only when it is the last page
 * of its session (trading-state). Pages tell each other on a `BroadcastChannel`; without one, every page counts as
 * the last.
 */

type PeerMessage = { type: 'hello' | 'here' | 'bye'; id: string; sessionId: string };

export interface PeerPages {
  /** Another open page of this browser uses this session. */
  othersOpen(): boolean;
  /** Tells the others this page is going (on `pagehide`); `back` says it is here again (`pageshow` from the cache). */
  leave(): void;
  back(): void;
  close(): void;
}

export function peerPages(sessionId: string): PeerPages {
  if (typeof BroadcastChannel !== 'function')
    return { othersOpen: () => false, leave() {}, back() {}, close() {} };
  const channel = new BroadcastChannel('gatehouse-pages');
  const id = crypto.randomUUID();
  const peers = new Map<string, string>();
  const say = (type: PeerMessage['type']) =>
    channel.postMessage({ type, id, sessionId } satisfies PeerMessage);
  channel.onmessage = (event: MessageEvent<PeerMessage>) => {
    const m = event.data;
    if (m.type === 'bye') peers.delete(m.id);
    else peers.set(m.id, m.sessionId);
    if (m.type === 'hello') say('here');
  };
  say('hello');
  return {
    othersOpen: () => [...peers.values()].includes(sessionId),
    leave: () => say('bye'),
    back: () => say('hello'),
    close: () => {
      say('bye');
      channel.close();
    },
  };
}

/**
 * @module account-stream
 * The supervisor's `/v1/stream` socket: opened with a DPoP-bound token and `resumeAfter` (the last event seen per
 * account, so the gateway replays the gap from its database), and opened again after every close with bounded,
 * jittered backoff until the supervisor stops. It says what happens (`opened`, `closed`, `reconnecting`) and hands
 * each parsed message on; what they mean is the supervisor's business.
 */
import type { Scheduler } from './clock.js';
import type { StreamFactory, StreamSocket } from './supervisor-types.js';

export interface AccountStreamHost {
  factory: StreamFactory;
  baseUrl: string;
  scheduler: Scheduler;
  /** A token and a proof for the upgrade request. */
  credentials(url: string): Promise<{ token: string; proof: string }>;
  /** The position to resume after, per account. */
  cursor(): Record<string, number>;
  backoffMs(attempt: number): number;
  stopped(): boolean;
  opened(resumed: Record<string, number>, reconnect: boolean): void;
  /** The socket closed (`opened`: it had opened first); a reconnect follows. */
  closed(opened: boolean): void;
  /** The socket could not even be asked for (no token: the network or the gateway is down). */
  failed(): void;
  reconnecting(attempt: number, inMs: number): void;
  message(message: Record<string, unknown>): void;
}

export class AccountStream {
  #socket: StreamSocket | null = null;
  #failures = 0;
  #everOpened = false;
  #timer: unknown;
  /** Times the socket closed while the supervisor ran (each followed by a reconnect). */
  reconnects = 0;

  constructor(readonly host: AccountStreamHost) {}

  /** Opens the socket; a failure to open schedules the next try. */
  async open(): Promise<void> {
    const host = this.host;
    if (host.stopped()) return;
    const resumed = host.cursor();
    const resume = Object.entries(resumed)
      .map(([account, seq]) => `${account}:${seq}`)
      .join(',');
    const url = `${host.baseUrl}/v1/stream${resume === '' ? '' : `?resumeAfter=${resume}`}`;
    let credentials: { token: string; proof: string };
    try {
      credentials = await host.credentials(url);
    } catch {
      host.failed();
      this.#retry();
      return;
    }
    if (host.stopped()) return;
    const socket = host.factory(url.replace(/^http/, 'ws'), {
      authorization: `DPoP ${credentials.token}`,
      dpop: credentials.proof,
    });
    this.#socket = socket;
    let opened = false;
    socket.on('open', () => {
      opened = true;
      this.#failures = 0;
      host.opened(resumed, this.#everOpened);
      this.#everOpened = true;
    });
    socket.on('message', (data) => {
      let message: unknown;
      try {
        message = JSON.parse(String(data));
      } catch {
        return;
      }
      if (typeof message === 'object' && message !== null) host.message(message as Record<string, unknown>);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.#socket !== socket || host.stopped()) return;
      this.#socket = null;
      this.reconnects += 1;
      host.closed(opened);
      this.#retry();
    });
  }

  #retry(): void {
    if (this.host.stopped()) return;
    this.#failures += 1;
    const inMs = this.host.backoffMs(this.#failures);
    this.host.reconnecting(this.#failures, inMs);
    this.host.scheduler.clearTimeout(this.#timer);
    this.#timer = this.host.scheduler.setTimeout(() => {
      this.open().catch(() => {});
    }, inMs);
  }

  close(): void {
    this.host.scheduler.clearTimeout(this.#timer);
    const socket = this.#socket;
    this.#socket = null;
    socket?.close();
  }
}

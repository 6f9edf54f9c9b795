/**
 * @module factors/device-hub
 * The mobile devices' open streams on this node, and the default `PushTransport`: each enrolled device keeps a
 * WebSocket to the gateway (`/v1/devices/stream`, ws/device-stream.ts), over which push requests arrive. A stream
 * opens only with the device's signature over its id, a time and a single-use nonce
 * (`gatehouse-device-stream:<deviceId>:<ms>:<nonce>`); a stale time, reused nonce or bad signature is refused.
 * Deliveries travel on the event bus, and the node holding a device's socket sends it.
 *
 * That node also tells the device each push's final state as the gateway decided it (`push_state`: approved,
 * denied, wrong_number, cancelled, expired — the same outcome the login screen is told), so the phone never shows
 * its own guess beside the gateway's, and a prompt whose login ended disappears at once. Revoking a device closes
 * its streams on every node (`device.revoked`, close code 4001).
 */
import { deviceStreamQuerySchema } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import type { WebSocket } from 'ws';
import {
  type Clock,
  type EventBus,
  GatehouseError,
  MemoryReplayGuard,
  type ReplayGuard,
} from '../core/index.js';
import { loadSigningDevice, streamAuthMessage, verifyDeviceSignature } from '../devices/index.js';
import type { Database } from '../store/index.js';
import { getPushState, isFinalPush, type PushMessage, type PushTransport } from './push.js';

/** How far a stream-auth timestamp may be from the server's clock. */
const STREAM_AUTH_SKEW_MS = 60_000;

/** How often a pending push delivered here is re-read, to notice its expiry (as the login stream does). */
const RECHECK_MS = 1_000;

/** The close code of a revoked device's stream. */
export const DEVICE_REVOKED_CLOSE = 4001;

/** A push delivered to sockets on this node, until its final state is sent to them. */
interface Tracked {
  deviceIds: string[];
  timer: ReturnType<typeof setTimeout>;
}

export class DeviceHub implements PushTransport {
  readonly #sockets = new Map<string, Set<WebSocket>>();
  /** Nonces seen within the skew window, on every node (core/replay.ts); a reused one is a replay. */
  readonly #nonces: ReplayGuard;
  readonly #db: Kysely<Database>;
  readonly #bus: EventBus;
  readonly #clock: Clock;
  /** Pushes this node delivered and has not yet told the final state of, by challenge id. */
  readonly #tracked = new Map<string, Tracked>();
  readonly #unsubscribe: (() => void)[];
  /** Reports a failure to read a push's state (the server's logger). */
  readonly #onError: (error: unknown) => void;

  constructor(
    db: Kysely<Database>,
    bus: EventBus,
    clock: Clock,
    onError: (error: unknown) => void = () => {},
    nonces: ReplayGuard = new MemoryReplayGuard(clock, 100_000),
  ) {
    this.#nonces = nonces;
    this.#onError = onError;
    this.#db = db;
    this.#bus = bus;
    this.#clock = clock;
    this.#unsubscribe = [
      bus.subscribe('push.deliver', ({ deviceIds, message }) => {
        const held = deviceIds.filter((id) => this.#sockets.has(id));
        for (const id of held) {
          for (const socket of this.#sockets.get(id) ?? []) socket.send(JSON.stringify(message));
        }
        const push = message as PushMessage;
        if (held.length > 0 && typeof push.challengeId === 'string') this.#track(push, held);
      }),
      bus.subscribe('push.updated', ({ challengeId }) => {
        if (this.#tracked.has(challengeId)) this.#settle(challengeId);
      }),
      bus.subscribe('device.revoked', ({ deviceId }) => {
        for (const socket of this.#sockets.get(deviceId) ?? []) {
          socket.send(JSON.stringify({ type: 'revoked' }));
          socket.close(DEVICE_REVOKED_CLOSE, 'DEVICE_REVOKED');
        }
      }),
    ];
  }

  /** Remembers a push delivered here until its final state is sent, and re-reads it when it expires. */
  #track(push: PushMessage, deviceIds: string[]): void {
    const known = this.#tracked.get(push.challengeId);
    if (known !== undefined) clearTimeout(known.timer);
    this.#tracked.set(push.challengeId, { deviceIds, timer: this.#timer(push.challengeId, RECHECK_MS) });
  }

  #timer(challengeId: string, ms: number): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => this.#settle(challengeId, true), ms);
    timer.unref();
    return timer;
  }

  /**
   * Sends a tracked push's state to its devices' sockets once it is final (the database decides). Its timer looks
   * again each second while the push is pending, to tell the device of its expiry as it happens.
   */
  #settle(challengeId: string, fromTimer = false): void {
    void (async () => {
      const state = await getPushState(this.#db, this.#clock, challengeId);
      const tracked = this.#tracked.get(challengeId);
      if (tracked === undefined || state === undefined) return;
      if (!isFinalPush(state.status)) {
        if (fromTimer) tracked.timer = this.#timer(challengeId, RECHECK_MS);
        return;
      }
      this.#tracked.delete(challengeId);
      clearTimeout(tracked.timer);
      const message = JSON.stringify({ type: 'push_state', challengeId, status: state.status });
      for (const id of tracked.deviceIds)
        for (const socket of this.#sockets.get(id) ?? []) socket.send(message);
    })().catch((error: unknown) => this.#onError(error));
  }

  async deliver(deviceIds: readonly string[], message: PushMessage): Promise<void> {
    await this.#bus.publish('push.deliver', { deviceIds: [...deviceIds], message });
  }

  /** Checks a stream-opening signature; throws `SIGNATURE_INVALID` / `DEVICE_REVOKED`. */
  async authenticate(query: unknown): Promise<string> {
    const parsed = deviceStreamQuerySchema.safeParse(query);
    if (!parsed.success) throw new GatehouseError('SIGNATURE_INVALID');
    const { deviceId, ts, nonce, sig } = parsed.data;
    const now = this.#clock.now();
    if (Math.abs(now - ts) > STREAM_AUTH_SKEW_MS) throw new GatehouseError('SIGNATURE_INVALID');
    const device = await loadSigningDevice(this.#db, deviceId);
    if (!verifyDeviceSignature(device.key, streamAuthMessage(deviceId, ts, nonce), sig)) {
      throw new GatehouseError('SIGNATURE_INVALID');
    }
    if (!(await this.#nonces.claim('device-stream', `${deviceId}:${nonce}`, 2 * STREAM_AUTH_SKEW_MS, ts)))
      throw new GatehouseError('SIGNATURE_INVALID');
    return deviceId;
  }

  attach(deviceId: string, socket: WebSocket): void {
    let set = this.#sockets.get(deviceId);
    if (set === undefined) {
      set = new Set();
      this.#sockets.set(deviceId, set);
    }
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (set.size === 0) this.#sockets.delete(deviceId);
    });
  }

  close(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    for (const tracked of this.#tracked.values()) clearTimeout(tracked.timer);
    this.#tracked.clear();
    for (const set of this.#sockets.values())
      for (const socket of set) socket.close(1001, 'server shutting down');
    this.#sockets.clear();
  }
}

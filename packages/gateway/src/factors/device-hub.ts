/**
 * @module factors/device-hub
 * The mobile devices' open streams on this node, and the default `PushTransport`: each enrolled device keeps a
 * WebSocket to the gateway (`/v1/devices/stream`, ws/device-stream.ts), over which push requests arrive. A stream
 * opens only with the device's signature over its id, a time and a single-use nonce
 * (`gatehouse-device-stream:<deviceId>:<ms>:<nonce>`); a stale time, reused nonce or bad signature is refused.
 * Deliveries travel on the event bus, and the node holding a device's socket sends it.
 */
import { deviceStreamQuerySchema } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import type { WebSocket } from 'ws';
import { type Clock, type EventBus, GatehouseError, LruCache } from '../core/index.js';
import { loadSigningDevice, streamAuthMessage, verifyDeviceSignature } from '../devices/index.js';
import type { Database } from '../store/index.js';
import type { PushMessage, PushTransport } from './push.js';

/** How far a stream-auth timestamp may be from the server's clock. */
const STREAM_AUTH_SKEW_MS = 60_000;

export class DeviceHub implements PushTransport {
  readonly #sockets = new Map<string, Set<WebSocket>>();
  /** Nonces seen within the skew window; a reused one is a replay. */
  readonly #nonces = new LruCache<string, number>(100_000);
  readonly #db: Kysely<Database>;
  readonly #bus: EventBus;
  readonly #clock: Clock;
  readonly #unsubscribe: () => void;

  constructor(db: Kysely<Database>, bus: EventBus, clock: Clock) {
    this.#db = db;
    this.#bus = bus;
    this.#clock = clock;
    this.#unsubscribe = bus.subscribe('push.deliver', ({ deviceIds, message }) => {
      for (const id of deviceIds) {
        for (const socket of this.#sockets.get(id) ?? []) socket.send(JSON.stringify(message));
      }
    });
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
    const key = `${deviceId}:${nonce}`;
    const seen = this.#nonces.get(key);
    if (seen !== undefined && now - seen <= 2 * STREAM_AUTH_SKEW_MS)
      throw new GatehouseError('SIGNATURE_INVALID');
    this.#nonces.set(key, now);
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
    this.#unsubscribe();
    for (const set of this.#sockets.values())
      for (const socket of set) socket.close(1001, 'server shutting down');
    this.#sockets.clear();
  }
}

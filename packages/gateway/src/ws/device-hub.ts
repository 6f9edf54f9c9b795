/**
 * @module ws/device-hub
 * `/v1/devices/stream`: each enrolled mobile device keeps a WebSocket to the gateway, over which push requests
 * arrive and receipts and decisions go back. The upgrade is authenticated before the socket opens: the query
 * carries the device id, a time, a single-use nonce and the device's signature over them
 * (`gatehouse-device-stream:<deviceId>:<ms>:<nonce>`); a stale time, reused nonce or bad signature is refused
 * with 401 and no socket. The hub is also the default `PushTransport`: deliveries travel on the event bus, and the
 * node holding a device's socket sends it.
 */

import type {} from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { GatewayContext } from '../app/context.js';
import { type Clock, type EventBus, GatehouseError, LruCache, toEnvelope } from '../core/index.js';
import { loadSigningDevice, streamAuthMessage, verifyDeviceSignature } from '../devices/index.js';
import { answerPush, type PushMessage, type PushTransport, recordPushReceipt } from '../factors/push.js';
import { toGatehouseError } from '../http/index.js';

/** How far a stream-auth timestamp may be from the server's clock. */
const STREAM_AUTH_SKEW_MS = 60_000;

const streamQuerySchema = z.strictObject({
  deviceId: z.string().min(1).max(64),
  ts: z.coerce.number().int(),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  sig: z.string().min(1).max(200),
});

const inboundSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('receipt'), challengeId: z.string().min(1).max(64) }),
  z.strictObject({
    type: z.literal('decision'),
    challengeId: z.string().min(1).max(64),
    decision: z.enum(['approve', 'deny']),
    number: z.string().regex(/^\d{2}$/),
    signature: z.string().min(1).max(200),
  }),
]);

export class DeviceHub implements PushTransport {
  readonly #sockets = new Map<string, Set<WebSocket>>();
  /** Nonces seen within the skew window; a reused one is a replay. */
  readonly #nonces = new LruCache<string, number>(100_000);
  readonly #bus: EventBus;
  readonly #clock: Clock;
  readonly #unsubscribe: () => void;

  constructor(bus: EventBus, clock: Clock) {
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
  async authenticate(ctx: GatewayContext, query: unknown): Promise<string> {
    const parsed = streamQuerySchema.safeParse(query);
    if (!parsed.success) throw new GatehouseError('SIGNATURE_INVALID');
    const { deviceId, ts, nonce, sig } = parsed.data;
    const now = this.#clock.now();
    if (Math.abs(now - ts) > STREAM_AUTH_SKEW_MS) throw new GatehouseError('SIGNATURE_INVALID');
    const device = await loadSigningDevice(ctx.store.db, deviceId);
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

export async function deviceStreamRoutes(
  app: FastifyInstance,
  ctx: GatewayContext,
  hub: DeviceHub,
): Promise<void> {
  const { db } = ctx.store;
  app.get(
    '/v1/devices/stream',
    {
      websocket: true,
      preValidation: async (request) => {
        (request as unknown as { deviceId: string }).deviceId = await hub.authenticate(ctx, request.query);
      },
    },
    (socket, request) => {
      const deviceId = (request as unknown as { deviceId: string }).deviceId;
      hub.attach(deviceId, socket);
      socket.send(JSON.stringify({ type: 'ready', deviceId }));
      const heartbeat = setInterval(() => socket.ping(), 10_000);
      heartbeat.unref();
      socket.once('close', () => clearInterval(heartbeat));
      socket.on('message', (raw: Buffer) => {
        void (async () => {
          let message: z.infer<typeof inboundSchema>;
          try {
            const result = inboundSchema.safeParse(JSON.parse(raw.toString('utf8')));
            if (!result.success) throw new GatehouseError('INVALID_REQUEST');
            message = result.data;
          } catch (error) {
            const mapped = error instanceof GatehouseError ? error : new GatehouseError('MALFORMED_JSON');
            socket.send(JSON.stringify({ type: 'error', ...toEnvelope(mapped) }));
            return;
          }
          try {
            if (message.type === 'receipt') {
              await recordPushReceipt(db, ctx.clock, deviceId, message.challengeId);
              await ctx.bus.publish('push.updated', { challengeId: message.challengeId });
            } else {
              // Applied, audited, notified and announced as the HTTP decision is; a wrong number throws after.
              await answerPush(
                { db, clock: ctx.clock, notifier: ctx.notifier, bus: ctx.bus },
                { deviceId, ...message },
                request.ip,
              );
            }
            socket.send(JSON.stringify({ type: 'ack', for: message.type, challengeId: message.challengeId }));
          } catch (error) {
            const mapped = toGatehouseError(error);
            socket.send(
              JSON.stringify({ type: 'error', challengeId: message.challengeId, ...toEnvelope(mapped) }),
            );
          }
        })();
      });
    },
  );
}

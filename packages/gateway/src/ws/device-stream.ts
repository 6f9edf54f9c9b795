/**
 * @module ws/device-stream
 * `/v1/devices/stream`: the WebSocket each enrolled mobile device keeps to the gateway (factors/device-hub.ts). The
 * upgrade is authenticated before the socket opens (the device's signature over its id, a time and a single-use
 * nonce; refused with 401 and no socket). Over it arrive push requests; receipts and decisions go back, each
 * applied, audited, notified and announced as the HTTP decision is, and acknowledged or answered with a coded error.
 */
import type {} from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { type Clock, type EventBus, GatehouseError, toEnvelope } from '../core/index.js';
import type { DeviceHub } from '../factors/device-hub.js';
import { answerPush, type PushAnswerDeps, recordPushReceipt } from '../factors/push.js';
import { toGatehouseError } from '../http/index.js';
import type { Notifier } from '../notifications/index.js';
import type { Database } from '../store/index.js';

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

export interface DeviceStreamDeps {
  hub: DeviceHub;
  /** How a device's push decision is applied (the same as over HTTP). */
  pushAnswers: PushAnswerDeps;
}

export async function deviceStreamRoutes(app: FastifyInstance, deps: DeviceStreamDeps): Promise<void> {
  const { hub, pushAnswers } = deps;
  const { db, clock, bus } = pushAnswers;
  /** The device each upgrade authenticated, from the upgrade's check to its socket. */
  const devices = new WeakMap<FastifyRequest, string>();
  app.get(
    '/v1/devices/stream',
    {
      websocket: true,
      preValidation: async (request) => {
        devices.set(request, await hub.authenticate(request.query));
      },
    },
    (socket, request) => {
      const deviceId = devices.get(request);
      if (deviceId === undefined) {
        socket.close(1011, 'INTERNAL');
        return;
      }
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
              await recordPushReceipt(db, clock, deviceId, message.challengeId);
              await bus.publish('push.updated', { challengeId: message.challengeId });
            } else {
              // Applied, audited, notified and announced as the HTTP decision is; a wrong number throws after.
              await answerPush(pushAnswers, { deviceId, ...message }, request.ip);
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

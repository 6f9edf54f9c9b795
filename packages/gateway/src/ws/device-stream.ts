/**
 * @module ws/device-stream
 * `/v1/devices/stream`: the WebSocket each enrolled mobile device keeps to the gateway (factors/device-hub.ts). The
 * upgrade is authenticated before the socket opens (the device's signature over its id, a time and a single-use
 * nonce; refused with 401 and no socket). Over it arrive push requests; receipts and decisions go back, each
 * applied, audited, notified and announced as the HTTP decision is, and acknowledged or answered with a coded error.
 */
import type {} from '@fastify/websocket';
import {
  deviceStreamMessageSchema,
  deviceStreamQuerySchema,
  deviceStreamRequestSchema,
} from '@gatehouse/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { GatehouseError, toEnvelope } from '../core/index.js';
import type { DeviceHub } from '../factors/device-hub.js';
import { answerPush, type PushAnswerDeps, recordPushReceipt } from '../factors/push.js';
import { operation, toGatehouseError } from '../http/index.js';

const deviceStream = operation({
  tag: 'devices',
  summary: 'An enrolled phone’s push channel (WebSocket)',
  description:
    'The upgrade carries the device’s signature over `deviceStreamAuthMessage(deviceId, ts, nonce)` (a time within ' +
    'the allowed skew, the nonce used once); refused with `401 SIGNATURE_INVALID` and no socket. Push requests ' +
    'arrive over it; delivery receipts and signed decisions go back, each acknowledged or answered with a coded error.',
  query: deviceStreamQuerySchema,
  responses: { 101: { description: 'Switching Protocols: the stream is open.' } },
  messages: { send: deviceStreamRequestSchema, receive: deviceStreamMessageSchema },
});

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
      config: { operation: deviceStream },
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
          let message: z.infer<typeof deviceStreamRequestSchema>;
          try {
            const result = deviceStreamRequestSchema.safeParse(JSON.parse(raw.toString('utf8')));
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

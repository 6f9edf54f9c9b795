/**
 * @module notifications/routes
 * `GET /v1/notifications`: the caller's own security notifications. `GET /v1/security/events`: the caller's own
 * recent audit events (the audit log never holds a secret, so its records are shown as written). With `development.exposeOutboxes` (on under
 * `gatehouse serve --demo`), `GET /v1/dev/sms-outbox` shows what the SMS simulator "sent" — never in production.
 */
import type { SecurityEvent } from '@gatehouse/protocol';
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../app/context.js';
import { listAuditForUser } from '../audit/index.js';
import { listSmsOutbox } from '../factors/index.js';
import { principalOf, requireSession } from '../http/index.js';
import { listNotifications } from './index.js';

export async function notificationRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  app.get('/v1/notifications', { preHandler: requireSession(ctx) }, async (request) => {
    return { notifications: await listNotifications(ctx.store.db, principalOf(request).session.userId) };
  });
  app.get('/v1/security/events', { preHandler: requireSession(ctx) }, async (request) => {
    const events = await listAuditForUser(ctx.store.db, principalOf(request).session.userId, 50);
    return {
      events: events.map(
        (e): SecurityEvent => ({
          seq: e.seq,
          at: new Date(e.at).toISOString(),
          type: e.type,
          sessionId: e.sessionId,
          ip: e.ip,
          data: e.data,
        }),
      ),
    };
  });
  if (ctx.config.development.exposeOutboxes) {
    app.get('/v1/dev/sms-outbox', async () => ({ messages: await listSmsOutbox(ctx.store.db) }));
  }
}

/**
 * @module notifications/routes
 * `GET /v1/notifications`: the caller's own security notifications. With `development.exposeOutboxes` (on under
 * `gatehouse serve --demo`), `GET /v1/dev/sms-outbox` shows what the SMS simulator "sent" — never in production.
 */
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../app/context.js';
import { listSmsOutbox } from '../factors/index.js';
import { principalOf, requireSession } from '../http/index.js';
import { listNotifications } from './index.js';

export async function notificationRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  app.get('/v1/notifications', { preHandler: requireSession(ctx) }, async (request) => {
    return { notifications: await listNotifications(ctx.store.db, principalOf(request).session.userId) };
  });
  if (ctx.config.development.exposeOutboxes) {
    app.get('/v1/dev/sms-outbox', async () => ({ messages: await listSmsOutbox(ctx.store.db) }));
  }
}

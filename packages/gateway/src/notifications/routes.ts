/**
 * @module notifications/routes
 * `GET /v1/notifications`: the caller's own security notifications. `GET /v1/security/events`: the caller's own
 * audit events, a page at a time (`?before=<seq>&limit=`) (the audit log never holds a secret, so its records are shown as written). With `development.exposeOutboxes` (on under
 * `gatehouse serve --demo`), `GET /v1/dev/sms-outbox` shows what the SMS simulator "sent" — never in production.
 */
import type { SecurityEvent } from '@gatehouse/protocol';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { listAuditForUser } from '../audit/index.js';
import type { Config } from '../config/index.js';
import { listSmsOutbox } from '../factors/index.js';
import { type Authenticator, parseWith, principalOf } from '../http/index.js';
import type { Database } from '../store/index.js';
import { listNotifications } from './index.js';
import { notificationOperations as ops } from './schema.js';

/** What these routes need of the gateway. */
export interface NotificationRoutesDeps {
  auth: Authenticator;
  config: Pick<Config, 'development'>;
  db: Kysely<Database>;
}

export async function notificationRoutes(app: FastifyInstance, deps: NotificationRoutesDeps): Promise<void> {
  app.get('/v1/notifications', deps.auth.forPeople({ operation: ops.notifications }), async (request) => {
    return { notifications: await listNotifications(deps.db, principalOf(request).session.userId) };
  });
  app.get('/v1/security/events', deps.auth.forPeople({ operation: ops.securityEvents }), async (request) => {
    const { before, limit } = parseWith(ops.securityEvents.query, request.query);
    // One more than asked: whether an older page exists, without a second query.
    const found = await listAuditForUser(deps.db, principalOf(request).session.userId, limit + 1, before);
    const events = found.slice(0, limit);
    const last = events.at(-1);
    return {
      nextBefore: found.length > limit && last !== undefined ? last.seq : null,
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
  if (deps.config.development.exposeOutboxes) {
    app.get('/v1/dev/sms-outbox', { config: { operation: ops.smsOutbox } }, async () => ({
      messages: await listSmsOutbox(deps.db),
    }));
  }
}

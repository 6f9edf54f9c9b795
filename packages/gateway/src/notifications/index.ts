/**
 * @module notifications
 * Telling a user about security events (ASVS 2.2.3, 2.5.x: notify on authentication changes and recovery). The
 * `Notifier` interface is what a broker connects to its e-mail or app-push service; the default `OutboxNotifier`
 * is a simulator that stores each message in the `notifications` table, readable at `GET /v1/notifications`.
 */
import type { Kysely } from 'kysely';
import { assertNoSecrets } from '../audit/index.js';
import { type Clock, newId } from '../core/index.js';
import type { Database } from '../store/index.js';

export type NotificationKind =
  | 'new_device_login'
  | 'new_country_login'
  | 'factor_added'
  | 'factor_removed'
  | 'recovery_code_used'
  | 'push_denied'
  | 'push_wrong_number'
  | 'api_client_registered'
  | 'app_authorized'
  | 'api_grant_revoked'
  | 'dead_man_fired'
  | 'password_changed'
  | 'password_reset';

export interface Notification {
  id: string;
  kind: NotificationKind;
  data: Record<string, unknown>;
  createdAt: string;
}

export interface Notifier {
  notify(userId: string, kind: NotificationKind, data?: Readonly<Record<string, unknown>>): Promise<void>;
}

/** The simulator: every notification lands in the `notifications` table. */
export class OutboxNotifier implements Notifier {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;

  constructor(db: Kysely<Database>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async notify(
    userId: string,
    kind: NotificationKind,
    data: Readonly<Record<string, unknown>> = {},
  ): Promise<void> {
    assertNoSecrets(data);
    await this.#db
      .insertInto('notifications')
      .values({
        id: newId('ntf'),
        user_id: userId,
        kind,
        data: JSON.stringify(data),
        created_at: this.#clock.now(),
      })
      .execute();
  }
}

export async function listNotifications(
  db: Kysely<Database>,
  userId: string,
  limit = 50,
): Promise<Notification[]> {
  const rows = await db
    .selectFrom('notifications')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind as NotificationKind,
    data: JSON.parse(r.data) as Record<string, unknown>,
    createdAt: new Date(r.created_at).toISOString(),
  }));
}

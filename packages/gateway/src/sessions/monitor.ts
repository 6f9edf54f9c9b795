/**
 * @module sessions/monitor
 * The session monitor: every live session of a user across channels, with its device, network, created / last
 * seen, tier and competing state — for the user (`GET /v1/sessions`) and for operators (`gatehouse sessions`).
 */
import type { MonitoredSession } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import type { Clock } from '../core/index.js';
import type { Database } from '../store/index.js';
import { tierAt } from './brokerage.js';
import { presentSession } from './presenter.js';
import { lastResetAt, type ResetSchedule } from './reset.js';
import type { SessionService } from './service.js';

export type { MonitoredSession };

export async function monitorSessions(
  db: Kysely<Database>,
  clock: Clock,
  sessions: SessionService,
  userId: string,
  currentSessionId: string | null,
  schedules: readonly ResetSchedule[],
): Promise<MonitoredSession[]> {
  const live = await sessions.listForUser(userId);
  const holder = await db
    .selectFrom('brokerage_holders')
    .select('session_id')
    .where('user_id', '=', userId)
    .executeTakeFirst();
  const deviceIds = [...new Set(live.map((s) => s.deviceId).filter((id): id is string => id !== null))];
  const devices =
    deviceIds.length === 0
      ? []
      : await db.selectFrom('devices').select(['id', 'name']).where('id', 'in', deviceIds).execute();
  const user = await db
    .selectFrom('users')
    .select('brokerage_policy')
    .where('id', '=', userId)
    .executeTakeFirst();
  const since = Math.max(...schedules.map((s) => lastResetAt(clock.now(), s)));
  return live.map((s) => {
    const { tier, competing } = tierAt(
      s.id,
      {
        acquiredAt: s.brokerageAt,
        resetAt: s.brokerageResetAt,
        shared: user?.brokerage_policy === 'shared',
        holderSessionId: holder?.session_id,
      },
      since,
    );
    const device = devices.find((d) => d.id === s.deviceId);
    return {
      ...presentSession(s, currentSessionId),
      device: device === undefined ? null : { id: device.id, name: device.name },
      network: s.network,
      tier,
      competing,
    };
  });
}

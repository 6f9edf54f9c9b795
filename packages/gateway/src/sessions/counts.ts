/**
 * @module sessions/counts
 * Live sessions counted by channel and tier, for the metrics scrape: read from the database, so every node reports
 * the same truth.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';

export interface LiveSessionCount {
  channel: string;
  tier: 'brokerage' | 'read_only';
  count: number;
}

export async function countLiveSessions(db: Kysely<Database>, now: number): Promise<LiveSessionCount[]> {
  const rows = await db
    .selectFrom('sessions')
    .leftJoin('brokerage_holders', 'brokerage_holders.session_id', 'sessions.id')
    .select(['sessions.channel', 'brokerage_holders.session_id as holder'])
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('sessions.revoked_at', 'is', null)
    .where('sessions.expires_at', '>', now)
    .groupBy(['sessions.channel', 'brokerage_holders.session_id'])
    .execute();
  return rows.map((row) => ({
    channel: row.channel,
    tier: row.holder === null ? 'read_only' : 'brokerage',
    count: Number(row.n),
  }));
}

/**
 * @module sandbox/recorder-reads
 * What a drill's recording reads from the database when it is read (tables of other capabilities, read only): the
 * account's orders and events, the dead-man switches that fired and the sandbox faults that acted on the subject;
 * and whether a session has a step-up pending. Whose activity it follows is sandbox/recorder-subject.ts.
 */
import type {
  DrillSubject,
  RecordedAccountEvent,
  RecordedCancel,
  RecordedDeadMan,
  RecordedOrder,
  Recording,
} from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import { type RecordingReader, subjectFaults } from './recorder-faults.js';
import { clientSessions } from './recorder-subject.js';
import type { DrillRecorder } from './recording.js';

const iso = (ms: number | bigint) => new Date(Number(ms)).toISOString();

/** Faults listed in one recording (the newest that acted on it; any beyond are counted in `dropped`). */
const MAX_RECORDED_FAULTS = 1_000;

/** Whether a session has a step-up pending now. */
export async function stepUpPending(db: Kysely<Database>, sessionId: string): Promise<boolean | undefined> {
  const row = await db
    .selectFrom('sessions')
    .select('step_up_required')
    .where('id', '=', sessionId)
    .executeTakeFirst();
  return row === undefined ? undefined : Number(row.step_up_required) === 1;
}

/** The account's events from `from` to `to`. */
export async function accountEvents(
  db: Kysely<Database>,
  accountId: string,
  from: number,
  to: number,
  limit: number,
): Promise<RecordedAccountEvent[]> {
  const rows = await db
    .selectFrom('account_events')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('created_at', '>=', from)
    .where('created_at', '<=', to)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((row) => {
    const data = parseObject(row.data);
    return {
      seq: Number(row.seq),
      at: iso(row.created_at),
      type: row.type,
      orderId: row.order_id,
      clientOrderId: typeof data.clientOrderId === 'string' ? data.clientOrderId : null,
      by: typeof data.by === 'string' ? data.by : null,
    };
  });
}

/** The last event sequence of the account at or before `at` (0 for none). */
export async function lastSeqAt(db: Kysely<Database>, accountId: string, at: number): Promise<number> {
  const row = await db
    .selectFrom('account_events')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('account_id', '=', accountId)
    .where('created_at', '<=', at)
    .executeTakeFirst();
  return row?.seq === null || row?.seq === undefined ? 0 : Number(row.seq);
}

/** Orders of `sessions` on the account that were placed, changed or still working during the recording. */
export async function subjectOrders(
  db: Kysely<Database>,
  accountId: string,
  sessions: readonly string[],
  from: number,
  limit: number,
): Promise<RecordedOrder[]> {
  if (sessions.length === 0) return [];
  const rows = await db
    .selectFrom('orders')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('session_id', 'in', [...sessions])
    .where((eb) => eb.or([eb('updated_at', '>=', from), eb('status', '=', 'working')]))
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    orderId: row.id,
    clientOrderId: row.client_order_id,
    sessionId: row.session_id,
    instrumentId: Number(row.instrument_id),
    side: row.side,
    type: row.type,
    quantity: Number(row.quantity),
    limitPrice: row.limit_price === null ? null : Number(row.limit_price),
    tif: row.tif,
    status: row.status,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  }));
}

/** Dead-man switches of the subject that fired during the recording (from the audit log). */
export async function deadManFired(
  db: Kysely<Database>,
  subject: DrillSubject,
  sessions: ReadonlySet<string>,
  from: number,
  to: number,
): Promise<RecordedDeadMan[]> {
  const rows = await db
    .selectFrom('audit_log')
    .select(['at', 'session_id', 'data'])
    .where('type', '=', 'safety.dead_man_fired')
    .where('user_id', '=', subject.userId)
    .where('at', '>=', from)
    .where('at', '<=', to)
    .orderBy('seq')
    .execute();
  const out: RecordedDeadMan[] = [];
  for (const row of rows) {
    const data = parseObject(row.data);
    const own = row.session_id !== null && sessions.has(row.session_id);
    if (!own && data.accountId !== subject.accountId) continue;
    out.push({
      at: iso(row.at),
      action: 'fired',
      scope: data.scope === 'account' ? 'account' : 'session',
      sessionId: row.session_id,
      timeoutMs: null,
    });
  }
  return out;
}

/**
 * A recording as it is read: the hooks' entries completed from the database up to `to` — the orders each placement
 * made, an order whose answer never reached the bot (the connection cut after the commit) as placed without an
 * answer, whether each cancel took effect, the dead-man switches that fired, the account's events and the faults
 * `reader` may see (sandbox/recorder-faults.ts).
 */
export async function assembleRecording(
  db: Kysely<Database>,
  recorder: DrillRecorder,
  reader: RecordingReader,
  to: number,
  limit: number,
): Promise<Recording> {
  const from = recorder.startedAt;
  for (const sessionId of await clientSessions(db, recorder.subject.clientId, recorder.subject.userId))
    recorder.sessions.add(sessionId);
  const sessions = [...recorder.sessions];
  const { accountId } = recorder.subject;
  const events = await accountEvents(db, accountId, from, to, limit);
  const orders = await subjectOrders(db, accountId, sessions, from, limit);
  const fired = await deadManFired(db, recorder.subject, recorder.sessions, from, to);
  for (const order of orders) recorder.instruments.add(order.instrumentId);
  const { faults, beyond } = await subjectFaults(db, recorder, reader, from, to, MAX_RECORDED_FAULTS);
  const placements = recorder.placements.map((p) => ({
    ...p,
    orderId: orders.find((o) => o.clientOrderId === p.clientOrderId)?.orderId ?? null,
  }));
  // An order the client placed whose answer never reached it (the connection cut after the commit) has no
  // delivered placement: it is recorded as placed without an answer, at its creation.
  for (const order of orders) {
    if (Date.parse(order.createdAt) < from) continue;
    const delivered = placements.some(
      (p) => p.clientOrderId === order.clientOrderId && p.outcome !== 'no_response' && p.status < 500,
    );
    if (!delivered && !placements.some((p) => p.clientOrderId === order.clientOrderId))
      placements.push({
        at: order.createdAt,
        clientOrderId: order.clientOrderId,
        orderId: order.orderId,
        outcome: 'no_response',
        status: 0,
        code: null,
        sessionId: order.sessionId,
      });
    else if (!delivered)
      for (const p of placements) if (p.clientOrderId === order.clientOrderId) p.orderId = order.orderId;
  }
  placements.sort((a, b) => a.at.localeCompare(b.at));
  const cancels: RecordedCancel[] = recorder.cancels.map((c) => {
    const effect = events.find((e) => e.orderId === c.orderId && e.type === 'cancelled' && e.at >= c.at);
    const done = c.status === 200 || effect !== undefined;
    return { ...c, tookEffect: done, effectAt: effect?.at ?? (done ? c.at : null) };
  });
  const deadMan = [...recorder.deadMan, ...fired].sort((a, b) => a.at.localeCompare(b.at));
  return {
    id: recorder.id,
    subject: recorder.subject,
    state: recorder.recording ? 'recording' : 'stopped',
    startedAt: iso(from),
    endedAt: iso(to),
    sessions,
    requests: [...recorder.requests],
    dropped: recorder.dropped + beyond,
    tokenRequests: [...recorder.tokenRequests],
    placements,
    cancels,
    sessionChanges: [...recorder.sessionChanges],
    streams: [...recorder.streams],
    deadMan,
    faults,
    events,
    orders,
  };
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

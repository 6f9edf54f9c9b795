/**
 * @module sandbox/recorder-faults
 * The sandbox faults a drill's recording lists (docs/sandbox.md, "The recording"): those that acted on its subject
 * during the recording — an action that happened in it, a condition that held during some of it — chosen in the
 * database by target and time, so however many other faults exist (another user's, past ones, cleared ones) none of
 * the recording's own is pushed out. Newest first up to a bound; any beyond are counted, not silently lost.
 *
 * What a reader sees depends on who reads: a person sees the faults they injected and the operator's that acted
 * on the subject — never another user's, and never the note of a fault not their own; an operator sees every fault
 * that acted on it, notes included. An instrument's fault is listed when the bot asked to trade or quote that
 * instrument (an order, a placement, a snapshot), not for every instrument there is.
 */
import { FAULT_CATALOGUE, type FaultKind, type RecordedFault } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { INSTRUMENTS } from '../instruments/index.js';
import type { Database } from '../store/index.js';
import type { DrillRecorder } from './recording.js';

const ACTION_KINDS = Object.entries(FAULT_CATALOGUE)
  .filter(([, entry]) => entry.mode === 'action')
  .map(([kind]) => kind);

const iso = (ms: number) => new Date(ms).toISOString();

/** The faults listed, oldest first, and how many more acted on the subject beyond the bound. */
export interface SubjectFaults {
  faults: RecordedFault[];
  beyond: number;
}

/** Who reads a recording: the person (a user id) or an operator (null). */
export type RecordingReader = string | null;

/**
 * Faults whose target covers the recording's subject — everyone, its user, its client, its account, one of the
 * program sessions of the user's grants of the client, an instrument it traded or quoted — that acted from `from`
 * to `to` and that `reader` may see.
 */
export async function subjectFaults(
  db: Kysely<Database>,
  recorder: Pick<DrillRecorder, 'subject' | 'instruments'>,
  reader: RecordingReader,
  from: number,
  to: number,
  limit: number,
): Promise<SubjectFaults> {
  const { userId, clientId, accountId } = recorder.subject;
  // An instrument target names it by symbol or by id (sandbox/targets.ts): both are looked for.
  const instruments = [...recorder.instruments].flatMap((id) => {
    const symbol = INSTRUMENTS.find((i) => i.id === id)?.symbol;
    return symbol === undefined ? [String(id)] : [String(id), symbol];
  });
  // The program sessions of the user's grants of the client (as clientSessions reads them), in SQL: their number
  // is not bounded, and a list of them would be.
  const grants = db
    .selectFrom('oauth_grants')
    .select('id')
    .where('client_id', '=', clientId)
    .where('user_id', '=', userId);
  const sessions = db
    .selectFrom('oauth_tokens')
    .select('session_id as id')
    .where('grant_id', 'in', grants)
    .union(db.selectFrom('oauth_instances').select('session_id as id').where('grant_id', 'in', grants))
    .union(db.selectFrom('oauth_grants').select('session_id as id').where('id', 'in', grants));
  const query = db
    .selectFrom('sandbox_faults')
    .where('state', '!=', 'scheduled')
    .where('starts_at', '<=', to)
    .where((eb) =>
      eb.or([
        eb.and([eb('kind', 'in', ACTION_KINDS), eb('starts_at', '>=', from)]),
        eb.and([
          eb('kind', 'not in', ACTION_KINDS),
          eb.or([eb('ends_at', 'is', null), eb('ends_at', '>=', from)]),
        ]),
      ]),
    )
    .where((eb) =>
      eb.or([
        eb('target_type', '=', 'all'),
        ...(instruments.length === 0
          ? []
          : [eb.and([eb('target_type', '=', 'instrument'), eb('target_id', 'in', instruments)])]),
        eb.and([eb('target_type', '=', 'user'), eb('target_id', '=', userId)]),
        eb.and([eb('target_type', '=', 'client'), eb('target_id', '=', clientId)]),
        eb.and([eb('target_type', '=', 'account'), eb('target_id', '=', accountId)]),
        eb.and([eb('target_type', '=', 'session'), eb('target_id', 'in', sessions)]),
      ]),
    )
    .$if(reader !== null, (q) =>
      q.where((eb) => eb.or([eb('owner_user_id', 'is', null), eb('owner_user_id', '=', reader)])),
    );
  const rows = await query
    .selectAll()
    .orderBy('starts_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  let beyond = 0;
  if (rows.length > limit) {
    rows.length = limit;
    const counted = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
    beyond = Number(counted?.n ?? 0) - limit;
  }
  const out: RecordedFault[] = [];
  for (const row of rows.reverse()) {
    const kind = row.kind as FaultKind;
    const entry = FAULT_CATALOGUE[kind];
    if (entry === undefined) continue;
    const startsAt = Number(row.starts_at);
    const endsAt = row.ends_at === null ? null : Number(row.ends_at);
    out.push({
      id: row.id,
      kind,
      mode: entry.mode,
      target:
        row.target_id === null
          ? { type: row.target_type as 'all' }
          : { type: row.target_type as 'user', id: row.target_id },
      params: parseObject(row.params),
      startsAt: iso(startsAt),
      endsAt: entry.mode === 'action' || endsAt === null ? null : iso(endsAt),
      state: row.state,
      hits: Number(row.hits),
      // Another's note (an operator's incident reference, another user's) is theirs alone.
      note: reader === null || row.owner_user_id === reader ? row.note : null,
    });
  }
  return { faults: out, beyond };
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * @module sandbox/service
 * The failure sandbox's registry of faults: injecting one (checked against the catalogue, its target and its
 * owner), its schedule (start, end, request count, seeded probability), running an action once when it starts, and
 * answering the probe (`core/faults`) that the push transport, SMS sender, token service, HTTP layer, stream hub
 * and engine ask at the moment a real failure would strike.
 *
 * Faults live in `sandbox_faults`; each node keeps the scheduled and active ones in memory and re-reads them when
 * the bus says they changed. An action runs on the one node that moves its row from `scheduled` to `active` (a
 * conditional update), so several nodes never run it twice.
 *
 * Longer than most modules: a fault's whole life (checked, injected, scheduled, acted, asked by the probe, cleared)
 * in one class, so its in-memory state has one owner.
 */
import {
  EXCLUSIVE_FAULT_KINDS,
  FAULT_CATALOGUE,
  type Fault,
  type FaultKind,
  type FaultTarget,
  faultRequestSchema,
} from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import {
  type ActiveFault,
  type Clock,
  type EventBus,
  type FaultProbe,
  type FaultSubject,
  GatehouseError,
  newTimeOrderedId,
} from '../core/index.js';
import { invalidRequest } from '../http/validation.js';
import type { Database } from '../store/index.js';
import { seededRandom } from './random.js';
import { ALL_LIVE_FAULTS, checkParams, checkPerson, checkSchedule, PERSON_LIVE_FAULTS } from './rules.js';
import { acting, actorFields, conflicts, fromRow, matches, present } from './schedule.js';
import { canonicalTarget } from './targets.js';
import type { InjectedFault, SandboxActor, TargetOwners } from './types.js';

export interface SandboxParts {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
  /** Who owns a target (a user, a session, a client, an account); undefined when it does not exist. */
  owners(target: FaultTarget): Promise<TargetOwners>;
  /** Does an action fault now, on its target; resolves to how many things it acted on (sessions ended, …). */
  act(fault: InjectedFault): Promise<number>;
  onError?: (error: unknown, fault: InjectedFault) => void;
}

/** How far in the past `at` may be (clock skew between a client and the gateway) before it is refused. */
const PAST_TOLERANCE_MS = 1_000;

interface Live {
  fault: InjectedFault;
  /** Matching requests seen before the fault acts (`afterRequests`). */
  seen: number;
  hits: number;
  draw: () => number;
}

export class Sandbox implements FaultProbe {
  readonly #parts: SandboxParts;
  /** Scheduled and active faults, by kind: what the probe reads. */
  #byKind = new Map<FaultKind, Live[]>();
  #live = new Map<string, Live>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #closed = false;
  /** Actions in flight, so `close()` and tests can wait for them. */
  #acting = new Set<Promise<unknown>>();

  constructor(parts: SandboxParts) {
    this.#parts = parts;
  }

  get armed(): boolean {
    return this.#live.size > 0;
  }

  /** Loads the scheduled and active faults and follows changes from other nodes. */
  async start(): Promise<void> {
    this.#unsubscribe = this.#parts.bus.subscribe('sandbox.changed', () => {
      this.#reload().catch(() => undefined);
    });
    await this.#reload();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    clearTimeout(this.#timer);
    await Promise.allSettled([...this.#acting]);
    await this.#flushHits();
  }

  /**
   * Injects a fault. Bad input (an unknown kind, parameters the kind does not take, a time in the past, a target
   * that does not exist) → `INVALID_REQUEST` naming the field; another user's target, or everyone's, for a user →
   * `FORBIDDEN`; an exclusive kind already on the target then → `FAULT_CONFLICT`. Nothing is injected on any error.
   */
  async inject(input: unknown, actor: SandboxActor): Promise<Fault> {
    const prepared = await this.prepare(input, actor);
    await this.#insert([prepared], actor);
    return present(prepared, 0);
  }

  /**
   * Checks a fault as `inject` does, without injecting it: a scenario checks every step before the first is
   * injected. `others` are faults of the same batch, checked for conflicts too.
   */
  async prepare(
    input: unknown,
    actor: SandboxActor,
    others: readonly InjectedFault[] = [],
  ): Promise<InjectedFault> {
    const parsed = faultRequestSchema.safeParse(input);
    if (!parsed.success) throw invalidRequest(parsed.error.issues);
    const request = parsed.data;
    const entry = FAULT_CATALOGUE[request.kind];
    const params = entry.params.safeParse(request.params);
    if (!params.success)
      throw invalidRequest(params.error.issues.map((i) => ({ ...i, path: ['params', ...i.path] })));
    checkParams(params.data as Record<string, unknown>);
    const now = this.#parts.clock.now();
    const { schedule } = request;
    const at = schedule.at === undefined ? undefined : Date.parse(schedule.at);
    if (at !== undefined && at < now - PAST_TOLERANCE_MS)
      throw new GatehouseError('INVALID_REQUEST', 'schedule.at: the time is in the past.', {
        issues: [{ path: 'schedule.at', message: 'the time is in the past' }],
      });
    const startsAt = at ?? now + (schedule.afterMs ?? 0);
    checkSchedule(request.kind, schedule, startsAt, now);
    const endsAt =
      entry.mode === 'condition' && schedule.durationMs !== undefined ? startsAt + schedule.durationMs : null;
    const owners = await this.#parts.owners(request.target);
    if (owners === undefined)
      throw new GatehouseError(
        'INVALID_REQUEST',
        `target.id: no ${request.target.type} "${request.target.id}".`,
        {
          issues: [{ path: 'target.id', message: `no such ${request.target.type}` }],
        },
      );
    if (actor.type === 'user' && (owners === 'everyone' || !owners.has(actor.userId)))
      throw new GatehouseError(
        'FORBIDDEN',
        owners === 'everyone'
          ? `A fault on ${request.target.type === 'all' ? 'everyone' : `an ${request.target.type}`} needs an operator.`
          : `The ${request.target.type} is not yours.`,
      );
    checkPerson(request.kind, request.target, schedule, actor);
    this.#checkRoom(actor, others);
    const fault: InjectedFault = {
      id: newTimeOrderedId('flt', now),
      kind: request.kind,
      target: canonicalTarget(request.target),
      params: params.data as Record<string, unknown>,
      schedule,
      state: 'scheduled',
      startsAt,
      endsAt,
      ownerUserId: actor.type === 'user' ? actor.userId : null,
      createdBy: actor.label ?? (actor.type === 'user' ? `user:${actor.userId}` : 'operator'),
      createdAt: now,
      note: request.note ?? null,
    };
    if (EXCLUSIVE_FAULT_KINDS.has(fault.kind)) {
      const clash = [...this.#live.values()].map((l) => l.fault).concat(others);
      if (clash.some((other) => conflicts(other, fault)))
        throw new GatehouseError('FAULT_CONFLICT', undefined, { kind: fault.kind });
    }
    return fault;
  }

  /** Injects faults checked by `prepare` (a scenario's steps), each audited. */
  async injectPrepared(faults: readonly InjectedFault[], actor: SandboxActor): Promise<Fault[]> {
    await this.#insert(faults, actor);
    return faults.map((fault) => present(fault, 0));
  }

  /** Faults, newest first: all of them for an operator (`ownerUserId` undefined), or those a user injected. */
  async list(options: { ownerUserId?: string; state?: 'active' | 'all' } = {}): Promise<Fault[]> {
    await this.#flushHits();
    let query = this.#parts.db.selectFrom('sandbox_faults').selectAll().orderBy('id', 'desc').limit(500);
    if (options.ownerUserId !== undefined) query = query.where('owner_user_id', '=', options.ownerUserId);
    if (options.state === 'active') query = query.where('state', 'in', ['scheduled', 'active']);
    const rows = await query.execute();
    return rows.map((row) => present(fromRow(row), this.#live.get(row.id)?.hits ?? row.hits));
  }

  /**
   * Clears one fault (`id`) or every scheduled and active one the actor may clear; resolves to how many. A user
   * clears only faults they injected: another's → `FORBIDDEN`, an unknown id → `NOT_FOUND`.
   */
  async clear(id: string | undefined, actor: SandboxActor): Promise<number> {
    const { db, clock, bus } = this.#parts;
    if (id !== undefined) {
      const row = await db.selectFrom('sandbox_faults').selectAll().where('id', '=', id).executeTakeFirst();
      if (row === undefined) throw new GatehouseError('NOT_FOUND', 'No such fault.');
      if (actor.type === 'user' && row.owner_user_id !== actor.userId)
        throw new GatehouseError('FORBIDDEN', 'The fault is not yours.');
    }
    let query = db
      .updateTable('sandbox_faults')
      .set({ state: 'cleared', ends_at: clock.now() })
      .where('state', 'in', ['scheduled', 'active']);
    if (id !== undefined) query = query.where('id', '=', id);
    if (actor.type === 'user') query = query.where('owner_user_id', '=', actor.userId);
    const result = await query.executeTakeFirst();
    const cleared = Number(result.numUpdatedRows);
    await appendAudit(db, clock, {
      type: 'sandbox.fault_cleared',
      ...actorFields(actor),
      data: { faultId: id ?? null, cleared, by: actor.label ?? actor.type },
    });
    await bus.publish('sandbox.changed', { faultId: id ?? '*' });
    await this.#reload();
    return cleared;
  }

  take(kind: FaultKind, subject: FaultSubject): ActiveFault | undefined {
    return this.#select(kind, subject, true, false)[0];
  }

  holds(kind: FaultKind, subject: FaultSubject): ActiveFault | undefined {
    return this.#select(kind, subject, false, false)[0];
  }

  takeAll(kind: FaultKind, subject: FaultSubject): ActiveFault[] {
    return this.#select(kind, subject, true, true);
  }

  holdsAll(kind: FaultKind, subject: FaultSubject): ActiveFault[] {
    return this.#select(kind, subject, false, true);
  }

  /** The faults of `kind` acting on `subject` now: the first or all; counting hits and drawing, or only looking. */
  #select(kind: FaultKind, subject: FaultSubject, hit: boolean, all: boolean): ActiveFault[] {
    const candidates = this.#byKind.get(kind);
    if (candidates === undefined) return [];
    const now = this.#parts.clock.now();
    const found: ActiveFault[] = [];
    for (const live of candidates) {
      if (!acting(live.fault, now) || !matches(live.fault.target, subject)) continue;
      if (hit) {
        const { afterRequests, probability } = live.fault.schedule;
        if (afterRequests !== undefined && live.seen < afterRequests) {
          live.seen += 1;
          continue;
        }
        if (probability !== undefined && live.draw() >= probability) continue;
        live.hits += 1;
      }
      found.push({ id: live.fault.id, kind, params: live.fault.params });
      if (!all) break;
    }
    return found;
  }

  /**
   * Starts what is due and ends what has run out (a timer calls it; tests with a frozen clock call it after moving
   * the clock). Resolves when the actions it started have run.
   */
  async tick(): Promise<void> {
    const { db, clock, bus } = this.#parts;
    const now = clock.now();
    let changed = false;
    for (const live of [...this.#live.values()]) {
      const { fault } = live;
      if (fault.state === 'scheduled' && fault.startsAt <= now) {
        const claimed = await db
          .updateTable('sandbox_faults')
          .set({ state: 'active' })
          .where('id', '=', fault.id)
          .where('state', '=', 'scheduled')
          .executeTakeFirst();
        fault.state = 'active';
        changed = true;
        if (FAULT_CATALOGUE[fault.kind].mode === 'action' && Number(claimed.numUpdatedRows) === 1)
          await this.#act(live);
      }
      if (fault.state === 'active' && fault.endsAt !== null && fault.endsAt <= now) {
        await db
          .updateTable('sandbox_faults')
          .set({ state: 'done', hits: live.hits })
          .where('id', '=', fault.id)
          .where('state', '=', 'active')
          .execute();
        fault.state = 'done';
        changed = true;
      }
    }
    if (changed) {
      this.#index();
      await bus.publish('sandbox.changed', { faultId: '*' });
    }
    this.#arm();
  }

  /** Refuses a fault beyond the live faults a person, or everyone together, may have (`FAULT_LIMIT_REACHED`). */
  #checkRoom(actor: SandboxActor, others: readonly InjectedFault[]): void {
    const live = [...this.#live.values()].map((l) => l.fault).concat(others);
    const mine = actor.type === 'user' ? live.filter((f) => f.ownerUserId === actor.userId).length : 0;
    if (live.length >= ALL_LIVE_FAULTS || mine >= PERSON_LIVE_FAULTS)
      throw new GatehouseError('FAULT_LIMIT_REACHED', undefined, {
        limit: live.length >= ALL_LIVE_FAULTS ? ALL_LIVE_FAULTS : PERSON_LIVE_FAULTS,
      });
  }

  async #act(live: Live): Promise<void> {
    const { db, act, onError } = this.#parts;
    const run = (async () => {
      try {
        live.hits += await act(live.fault);
      } catch (error) {
        onError?.(error, live.fault);
      }
      live.fault.state = 'done';
      await db
        .updateTable('sandbox_faults')
        .set({ state: 'done', hits: live.hits })
        .where('id', '=', live.fault.id)
        .where('state', '=', 'active')
        .execute();
    })();
    this.#acting.add(run);
    try {
      await run;
    } finally {
      this.#acting.delete(run);
    }
  }

  /** Inserts a batch in one transaction, each audited (its parameters and schedule too), then one reload and tick. */
  async #insert(faults: readonly InjectedFault[], actor: SandboxActor): Promise<void> {
    const { db, clock, bus } = this.#parts;
    await db.transaction().execute(async (trx) => {
      for (const fault of faults) {
        await trx
          .insertInto('sandbox_faults')
          .values({
            id: fault.id,
            kind: fault.kind,
            target_type: fault.target.type,
            target_id: fault.target.id ?? null,
            params: JSON.stringify(fault.params),
            schedule: JSON.stringify(fault.schedule),
            state: 'scheduled',
            starts_at: fault.startsAt,
            ends_at: fault.endsAt,
            hits: 0,
            owner_user_id: fault.ownerUserId,
            created_by: fault.createdBy,
            created_at: fault.createdAt,
            note: fault.note,
          })
          .execute();
        await appendAudit(trx, clock, {
          type: 'sandbox.fault_injected',
          ...actorFields(actor),
          data: {
            faultId: fault.id,
            kind: fault.kind,
            target: fault.target,
            params: fault.params,
            schedule: fault.schedule,
            startsAt: new Date(fault.startsAt).toISOString(),
            by: fault.createdBy,
          },
        });
      }
    });
    for (const fault of faults) this.#adopt(fault);
    this.#index();
    await bus.publish('sandbox.changed', { faultId: faults.length === 1 ? (faults[0]?.id ?? '*') : '*' });
    await this.tick();
  }

  async #reload(): Promise<void> {
    if (this.#closed) return;
    const rows = await this.#parts.db
      .selectFrom('sandbox_faults')
      .selectAll()
      .where('state', 'in', ['scheduled', 'active'])
      .execute();
    const keep = new Set(rows.map((r) => r.id));
    for (const id of this.#live.keys()) if (!keep.has(id)) this.#live.delete(id);
    for (const row of rows) {
      const known = this.#live.get(row.id);
      if (known === undefined) this.#adopt(fromRow(row));
      else known.fault.state = row.state;
    }
    this.#index();
    this.#arm();
  }

  #adopt(fault: InjectedFault): void {
    this.#live.set(fault.id, {
      fault,
      seen: 0,
      hits: 0,
      draw: seededRandom(fault.schedule.seed ?? 1),
    });
  }

  /** Rebuilds the per-kind index from the faults still scheduled or active. */
  #index(): void {
    for (const [id, live] of this.#live)
      if (live.fault.state === 'done' || live.fault.state === 'cleared') this.#live.delete(id);
    const byKind = new Map<FaultKind, Live[]>();
    for (const live of this.#live.values()) {
      const list = byKind.get(live.fault.kind) ?? [];
      list.push(live);
      byKind.set(live.fault.kind, list);
    }
    this.#byKind = byKind;
  }

  /** Sets the timer for the next start or end. */
  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    const now = this.#parts.clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const { fault } of this.#live.values()) {
      if (fault.state === 'scheduled') next = Math.min(next, fault.startsAt);
      else if (fault.endsAt !== null) next = Math.min(next, fault.endsAt);
    }
    if (next === Number.POSITIVE_INFINITY) return;
    const delay = Math.min(Math.max(0, next - now), 2 ** 31 - 1);
    this.#timer = setTimeout(() => {
      this.tick().catch(() => undefined);
    }, delay);
    this.#timer.unref();
  }

  async #flushHits(): Promise<void> {
    for (const live of this.#live.values())
      if (live.hits > 0)
        await this.#parts.db
          .updateTable('sandbox_faults')
          .set({ hits: live.hits })
          .where('id', '=', live.fault.id)
          .execute();
  }
}

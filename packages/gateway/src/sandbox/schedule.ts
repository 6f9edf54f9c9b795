/**
 * @module sandbox/schedule
 * Pure parts of the registry: whether a fault acts at an instant, whether its target covers a subject, whether two
 * exclusive faults overlap, and a fault read back from its row.
 */
import {
  FAULT_CATALOGUE,
  type Fault,
  type FaultKind,
  type FaultSchedule,
  type FaultTarget,
} from '@gatehouse/protocol';
import type { FaultSubject } from '../core/index.js';
import type { SandboxFaultsTable } from '../store/index.js';
import type { InjectedFault, SandboxActor } from './types.js';

export function acting(fault: InjectedFault, now: number): boolean {
  return fault.startsAt <= now && (fault.endsAt === null || now < fault.endsAt) && fault.state !== 'cleared';
}

/** Whether a target covers a subject. A user's target covers their sessions, clients and accounts too. */
export function matches(target: FaultTarget, subject: FaultSubject): boolean {
  switch (target.type) {
    case 'all':
      return true;
    case 'user':
      return subject.userId === target.id;
    case 'session':
      return subject.sessionId === target.id;
    case 'client':
      return subject.clientId === target.id;
    case 'account':
      return subject.accountId === target.id;
    case 'instrument':
      return subject.instrument === target.id;
  }
}

/** Two faults of one kind on one target whose times overlap. */
export function conflicts(a: InjectedFault, b: InjectedFault): boolean {
  if (a.kind !== b.kind || a.target.type !== b.target.type || a.target.id !== b.target.id) return false;
  const aEnd = a.endsAt ?? Number.POSITIVE_INFINITY;
  const bEnd = b.endsAt ?? Number.POSITIVE_INFINITY;
  return a.startsAt < bEnd && b.startsAt < aEnd;
}

export function fromRow(row: SandboxFaultsTable): InjectedFault {
  const target: FaultTarget =
    row.target_id === null
      ? { type: row.target_type as FaultTarget['type'] }
      : { type: row.target_type as FaultTarget['type'], id: row.target_id };
  return {
    id: row.id,
    kind: row.kind as FaultKind,
    target,
    params: JSON.parse(row.params) as Record<string, unknown>,
    schedule: JSON.parse(row.schedule) as FaultSchedule,
    state: row.state,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    ownerUserId: row.owner_user_id,
    createdBy: row.created_by,
    createdAt: row.created_at,
    note: row.note,
  };
}

/** A fault as the gateway lists it. */
export function present(fault: InjectedFault, hits: number): Fault {
  const entry = FAULT_CATALOGUE[fault.kind];
  return {
    id: fault.id,
    kind: fault.kind,
    family: entry.family,
    mode: entry.mode,
    target: fault.target,
    params: { ...fault.params },
    schedule: fault.schedule,
    state: fault.state,
    startsAt: new Date(fault.startsAt).toISOString(),
    endsAt: fault.endsAt === null ? null : new Date(fault.endsAt).toISOString(),
    hits,
    createdBy: fault.createdBy,
    createdAt: new Date(fault.createdAt).toISOString(),
    ...(fault.note === null ? {} : { note: fault.note }),
  };
}

/** Who acted, as the audit log records it. */
export function actorFields(actor: SandboxActor) {
  return actor.type === 'user'
    ? { userId: actor.userId, sessionId: actor.sessionId, ip: actor.ip ?? null }
    : { userId: null, sessionId: null, ip: null };
}

/**
 * @module core/faults
 * Where the failure sandbox (`sandbox/`) reaches into the gateway. Each place a real failure happens — the push
 * transport, the SMS sender, the token service, the HTTP layer, the stream hub, the engine — holds a `FaultProbe`
 * and asks it, at the moment the real failure would strike, whether a fault of one kind is active for the subject
 * at hand. The answer is either nothing (go on as usual) or the fault, whose parameters say how to fail.
 *
 * The probe is on every hot path, so its idle cost is one property read: `armed` is false while no fault is
 * scheduled or active, and callers test it before building a subject. A gateway without the sandbox holds
 * `noFaults`, whose `armed` is always false.
 */
import type { FaultKind } from '@gatehouse/protocol';

export type { FaultKind } from '@gatehouse/protocol';

/** What a request, push, order or message is about; a fault's target matches one of these. */
export interface FaultSubject {
  userId?: string | undefined;
  sessionId?: string | undefined;
  clientId?: string | undefined;
  accountId?: string | undefined;
  /** An instrument's symbol. */
  instrument?: string | undefined;
}

/** A fault that is acting now: its id (for the audit and the report) and its checked parameters. */
export interface ActiveFault {
  id: string;
  kind: FaultKind;
  params: Readonly<Record<string, unknown>>;
}

export interface FaultProbe {
  /** False while no fault is scheduled or active: hot paths test this and read nothing else. */
  readonly armed: boolean;
  /**
   * The active fault of `kind` whose target matches `subject` and whose schedule lets it act now (its request
   * count reached, its seeded draw won), counted as a hit; undefined otherwise.
   */
  take(kind: FaultKind, subject: FaultSubject): ActiveFault | undefined;
  /** Like `take`, without counting a hit or drawing: whether such a fault holds now (a stalled stream's check). */
  holds(kind: FaultKind, subject: FaultSubject): ActiveFault | undefined;
  /** Every fault `take` would answer with (several of one kind: two bundles revoked), each counted and drawn. */
  takeAll(kind: FaultKind, subject: FaultSubject): ActiveFault[];
  /** Every fault `holds` would answer with. */
  holdsAll(kind: FaultKind, subject: FaultSubject): ActiveFault[];
}

/** The probe of a gateway without the sandbox. */
export const noFaults: FaultProbe = {
  armed: false,
  take: () => undefined,
  holds: () => undefined,
  takeAll: () => [],
  holdsAll: () => [],
};

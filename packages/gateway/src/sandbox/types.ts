/**
 * @module sandbox/types
 * The registry's shapes: an injected fault, who injects it, and whose a target is.
 */
import type { Fault, FaultKind, FaultSchedule, FaultTarget } from '@gatehouse/protocol';

/** Who injects or clears: an operator (any target), or a user through their own session (their own targets). */
export type SandboxActor =
  | { type: 'operator'; label?: string }
  | { type: 'user'; userId: string; sessionId: string; ip?: string | null; label?: string };

/** An injected fault as the registry holds it. */
export interface InjectedFault {
  id: string;
  kind: FaultKind;
  target: FaultTarget;
  params: Readonly<Record<string, unknown>>;
  schedule: FaultSchedule;
  state: Fault['state'];
  startsAt: number;
  endsAt: number | null;
  ownerUserId: string | null;
  createdBy: string;
  createdAt: number;
  note: string | null;
}

/** Whose a target is: the users who own it, `everyone` (no single owner: only operators), or undefined (none such). */
export type TargetOwners = ReadonlySet<string> | 'everyone' | undefined;

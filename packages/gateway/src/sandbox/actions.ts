/**
 * @module sandbox/actions
 * Action faults — those that happen once, when their schedule starts them — and where each is done. Each family's
 * file does its actions through the capability that owns what they change (the session service ends a session,
 * the brokerage tier takes trading, the stream hub closes a socket), so audit, metrics, the session-loss policy and
 * the dead-man switch react as they would to the real event.
 */
import { FAULT_CATALOGUE, type FaultKind } from '@gatehouse/protocol';
import type { InjectedFault } from './types.js';

/** The kinds that are actions. */
export type ActionKind = {
  [K in FaultKind]: (typeof FAULT_CATALOGUE)[K]['mode'] extends 'action' ? K : never;
}[FaultKind];

/** Does one action on its fault's target; resolves to how many things it acted on. */
export type ActionHandler = (fault: InjectedFault) => Promise<number>;

export type ActionHandlers = Record<ActionKind, ActionHandler>;

/** One function that does any action fault, from every family's handlers. */
export function actionRunner(handlers: ActionHandlers): (fault: InjectedFault) => Promise<number> {
  return async (fault) => {
    if (FAULT_CATALOGUE[fault.kind].mode !== 'action') return 0;
    const handler = handlers[fault.kind as ActionKind];
    return handler(fault);
  };
}

/**
 * @module app/sandbox
 * The failure sandbox's actions, bound to the services that do them: each family's handlers get only the parts
 * they use.
 */
import { actionRunner, type InjectedFault } from '../sandbox/index.js';
import { sessionActions } from '../sandbox/session-actions.js';
import { streamActions } from '../sandbox/stream-actions.js';
import type { GatewayContext } from './context.js';

/** The function the sandbox calls to do an action fault. */
export function sandboxActions(ctx: GatewayContext): (fault: InjectedFault) => Promise<number> {
  return actionRunner({
    ...sessionActions({
      db: ctx.store.db,
      clock: ctx.clock,
      bus: ctx.bus,
      sessions: ctx.sessions,
      brokerage: ctx.brokerage,
      oauth: ctx.oauth,
    }),
    ...streamActions({ bus: ctx.bus }),
  });
}

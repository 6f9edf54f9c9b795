/**
 * @module app/sandbox
 * The failure sandbox's actions, bound to the services that do them: each family's handlers get only the parts
 * they use.
 */

import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { appendAudit } from '../audit/index.js';
import type { PublicUrls } from '../config/index.js';
import type { Clock, EventBus } from '../core/index.js';
import { revokeDevice, sandboxDevice } from '../devices/index.js';
import { requireAnotherFactor } from '../factors/registry.js';
import { listUserAccounts } from '../identity/index.js';
import { authenticatedClientId } from '../oauth/faults.js';
import { actionRunner, type InjectedFault, Sandbox, targetOwners } from '../sandbox/index.js';
import { DrillRecorders } from '../sandbox/recorder.js';
import { sessionActions } from '../sandbox/session-actions.js';
import { streamActions } from '../sandbox/stream-actions.js';
import type { Database } from '../store/index.js';
import type { GatewayContext } from './context.js';

/** Where the sandbox's scripted logins come from: TEST-NET-3 (RFC 5737). */
const SANDBOX_IP = '203.0.113.10';

/**
 * The registry, built before the services (the places a failure strikes hold its probe), and `bind`, which gives it
 * its actions once the context is whole.
 */
export function createSandbox(db: Kysely<Database>, clock: Clock, bus: EventBus, logger: Logger) {
  let act: ((fault: InjectedFault) => Promise<number>) | undefined;
  const registry = new Sandbox({
    db,
    clock,
    bus,
    owners: (target) => targetOwners(db, target),
    act: (fault) => (act === undefined ? Promise.resolve(0) : act(fault)),
    onError: (error, fault) =>
      logger.error({ err: error, faultId: fault.id, kind: fault.kind }, 'sandbox fault failed'),
  });
  return {
    registry,
    bind(ctx: GatewayContext): void {
      act = sandboxActions(ctx);
    },
  };
}

/** Drills' recordings; a token request counts for the client it proves to be (its assertion verified). */
export function createRecorders(
  registry: Sandbox,
  db: Kysely<Database>,
  clock: Clock,
  bus: EventBus,
  urls: PublicUrls,
): DrillRecorders {
  return new DrillRecorders({
    db,
    clock,
    bus,
    flushFaults: () => registry.list({ state: 'active' }),
    clientOf: (form) => authenticatedClientId({ db, clock, urls }, form),
  });
}

/** The function the sandbox calls to do an action fault. */
export function sandboxActions(ctx: GatewayContext): (fault: InjectedFault) => Promise<number> {
  const { db } = ctx.store;
  const { clock } = ctx;
  return actionRunner({
    ...sessionActions({
      db,
      clock,
      sessions: ctx.sessions,
      brokerage: ctx.brokerage,
      oauth: ctx.oauth,
      accountsOf: (userId) => listUserAccounts(db, userId),
      async sandboxDevice(userId, kind, name) {
        const device = await sandboxDevice(db, clock.now(), { userId, kind, name, ip: SANDBOX_IP });
        if (device.isNew)
          await appendAudit(db, clock, {
            type: 'device.new',
            userId,
            ip: SANDBOX_IP,
            data: { deviceId: device.deviceId, kind, name },
          });
        return device.deviceId;
      },
      // As the owner's revocation (DELETE /v1/devices/:id): the registry under the last-factor rule, the sessions
      // bound to the device, the audit, the notice.
      async revokeDevice(userId, deviceId, faultId) {
        const row = await db
          .selectFrom('devices')
          .select(['user_id', 'status'])
          .where('id', '=', deviceId)
          .executeTakeFirst();
        if (row?.user_id !== userId || row.status !== 'active') return undefined;
        const device = await revokeDevice(db, userId, deviceId, (trx, owner, id) =>
          requireAnotherFactor(trx, owner, { deviceId: id }),
        );
        const endedSessions = await ctx.sessions.revokeForDevice(deviceId);
        await appendAudit(db, clock, {
          type: 'device.revoked',
          userId,
          data: { deviceId, endedSessions, sandboxFault: faultId },
        });
        if (device.kind !== 'browser')
          await ctx.notifier.notify(userId, 'factor_removed', {
            factor: device.kind === 'mobile' ? 'push' : 'device_key',
            device: device.name,
          });
        return endedSessions;
      },
      onLogin: (channel) => ctx.metrics.logins.inc({ channel, result: 'success' }),
    }),
    ...streamActions({ bus: ctx.bus }),
  });
}

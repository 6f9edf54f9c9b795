/**
 * @module app/sandbox
 * The failure sandbox's actions, bound to the services that do them: each family's handlers get only the parts
 * they use.
 */
import { appendAudit } from '../audit/index.js';
import { revokeDevice, sandboxDevice } from '../devices/index.js';
import { requireAnotherFactor } from '../factors/registry.js';
import { listUserAccounts } from '../identity/index.js';
import { actionRunner, type InjectedFault } from '../sandbox/index.js';
import { sessionActions } from '../sandbox/session-actions.js';
import { streamActions } from '../sandbox/stream-actions.js';
import type { GatewayContext } from './context.js';

/** Where the sandbox's scripted logins come from: TEST-NET-3 (RFC 5737). */
const SANDBOX_IP = '203.0.113.10';

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

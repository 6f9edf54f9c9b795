/**
 * @module devices/routes
 * Mobile enrolment (activation code from a signed-in session, activation by the device with its public key),
 * the user's device list (rename, trust, revoke), and push decisions over HTTP for devices without a stream.
 */
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../app/context.js';
import { appendAudit } from '../audit/index.js';
import { GatehouseError } from '../core/index.js';
import { decidePush } from '../factors/push.js';
import { clientInfo, parseWith, principalOf, requireSession } from '../http/index.js';
import { requireSensitive } from '../sessions/index.js';
import {
  activateMobileDevice,
  createActivation,
  listDevices,
  revokeDevice,
  updateDevice,
} from './registry.js';
import {
  activateSchema,
  challengeParamsSchema,
  decisionSchema,
  deviceIdParamsSchema,
  updateDeviceSchema,
} from './schema.js';

export async function deviceRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const authenticated = { preHandler: requireSession(ctx) };
  const { db } = ctx.store;
  const { clock } = ctx;
  const rateLimit = {
    max: ctx.config.login.ipRateLimitMax,
    timeWindow: ctx.config.login.ipRateLimitWindowMs,
  };

  app.post('/v1/devices/mobile/enroll', authenticated, async (request) => {
    const principal = principalOf(request);
    if (principal.session.aal < 2)
      throw new GatehouseError('STEP_UP_REQUIRED', undefined, { reason: 'aal2_required' });
    await requireSensitive(db, clock, principal, { factorChange: true });
    const { code, expiresAt } = await createActivation(
      db,
      clock,
      principal.session.userId,
      ctx.config.devices.activationTtlMs,
    );
    const server = `${request.protocol}://${request.host}`;
    const uri = `gatehouse://activate?${new URLSearchParams({ server, code }).toString()}`;
    return { activationCode: code, activationUri: uri, expiresAt: new Date(expiresAt).toISOString() };
  });

  app.post('/v1/devices/mobile/activate', { config: { rateLimit } }, async (request) => {
    const body = parseWith(activateSchema, request.body);
    const pinHash = body.pin === undefined ? null : await ctx.hasher.hash(body.pin);
    const { deviceId, userId } = await activateMobileDevice(db, clock, {
      activationCode: body.activationCode,
      publicKey: body.publicKey,
      name: body.name,
      platform: body.platform,
      pinHash,
      ip: clientInfo(request).ip,
    });
    await appendAudit(db, clock, {
      type: 'device.enrolled',
      userId,
      ip: clientInfo(request).ip,
      data: { deviceId, kind: 'mobile', platform: body.platform },
    });
    await ctx.notifier.notify(userId, 'factor_added', { factor: 'push', device: body.name });
    return { deviceId, status: 'active' };
  });

  app.get('/v1/devices', authenticated, async (request) => ({
    devices: await listDevices(db, principalOf(request).session.userId),
  }));

  app.patch('/v1/devices/:id', authenticated, async (request) => {
    const { id } = parseWith(deviceIdParamsSchema, request.params);
    const change = parseWith(updateDeviceSchema, request.body);
    return updateDevice(db, principalOf(request).session.userId, id, change);
  });

  app.delete('/v1/devices/:id', authenticated, async (request) => {
    const { id } = parseWith(deviceIdParamsSchema, request.params);
    const { session } = principalOf(request);
    const device = await revokeDevice(db, session.userId, id);
    await appendAudit(db, clock, {
      type: 'device.revoked',
      userId: session.userId,
      sessionId: session.id,
      ip: clientInfo(request).ip,
      data: { deviceId: id },
    });
    await ctx.notifier.notify(session.userId, 'factor_removed', { factor: 'push', device: device.name });
    return device;
  });

  // A signed decision needs no session: the device's signature is its authentication.
  app.post('/v1/devices/push/:challengeId/decision', { config: { rateLimit } }, async (request) => {
    const { challengeId } = parseWith(challengeParamsSchema, request.params);
    const body = parseWith(decisionSchema, request.body);
    const state = await decidePush(db, clock, { ...body, challengeId });
    await appendAudit(db, clock, {
      type: state.status === 'approved' ? 'push.approved' : 'push.denied',
      userId: state.userId,
      ip: clientInfo(request).ip,
      data: { challengeId, deviceId: body.deviceId },
    });
    if (state.status === 'denied')
      await ctx.notifier.notify(state.userId, 'push_denied', { deviceId: body.deviceId });
    await ctx.bus.publish('push.updated', { challengeId });
    return { challengeId, status: state.status };
  });
}

/**
 * @module devices/routes
 * Mobile enrolment (activation code from a signed-in session, activation by the device with its public key),
 * desktop device-key registration, the user's device list (rename, trust, revoke — revoking a device ends the
 * sessions bound to it, and closes its push stream on every node), push decisions over HTTP for devices without a
 * stream, a test push to a phone just activated, and the user's travel notices (`travelRoutes`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { accountsFor } from '../access/index.js';
import { appendAudit } from '../audit/index.js';
import type { Config, PublicUrls } from '../config/index.js';
import { type Clock, type EventBus, GatehouseError } from '../core/index.js';
import { answerPush, getPushState, type PushAnswerDeps, type PushTransport } from '../factors/push.js';
import { requireAnotherFactor } from '../factors/registry.js';
import { createTestPush } from '../factors/test-push.js';
import {
  type Authenticator,
  bearerToken,
  clientInfo,
  type Operation,
  parseWith,
  principalOf,
} from '../http/index.js';
import type { PasswordHasher } from '../identity/index.js';
import type { Notifier } from '../notifications/index.js';
import { requireSensitive, type SessionService } from '../sessions/index.js';
import type { Database } from '../store/index.js';
import { describeUserAgent } from './browser.js';
import { parseP256PublicJwk } from './keys.js';
import { networkOf } from './network.js';
import {
  activateMobileDevice,
  createActivation,
  listDevices,
  registerDesktopDevice,
  revokeDevice,
  updateDevice,
} from './registry.js';
import { deviceOperations as ops, travelOperations } from './schema.js';
import { createNotice, deleteNotice, listNotices } from './travel.js';

/** How long after a login with a security key a desktop session may register its device key. */
export const DESKTOP_REGISTRATION_WINDOW_MS = 10 * 60_000;

/** What these routes need of the gateway. */
export interface DeviceRoutesDeps {
  /** How a device's push decision is applied (the same for the device stream). */
  pushAnswers: PushAnswerDeps;
  /** Delivers a test push to a phone. */
  push: PushTransport;
  auth: Authenticator;
  bus: EventBus;
  clock: Clock;
  config: Pick<Config, 'devices' | 'login' | 'push'>;
  db: Kysely<Database>;
  hasher: PasswordHasher;
  notifier: Notifier;
  sessions: SessionService;
  urls: PublicUrls;
}

export async function deviceRoutes(app: FastifyInstance, deps: DeviceRoutesDeps): Promise<void> {
  const authenticated = (operation: Operation) => deps.auth.forPeople({ operation });
  const { db } = deps;
  const { clock } = deps;
  const rateLimit = {
    max: deps.config.login.ipRateLimitMax,
    timeWindow: deps.config.login.ipRateLimitWindowMs,
  };

  app.post('/v1/devices/mobile/enroll', authenticated(ops.enrolMobile), async (request) => {
    const principal = principalOf(request);
    if (principal.session.aal < 2)
      throw new GatehouseError('STEP_UP_REQUIRED', undefined, { reason: 'aal2_required' });
    await requireSensitive(db, clock, principal, { factorChange: true });
    const { code, expiresAt } = await createActivation(
      db,
      clock,
      principal.session.userId,
      deps.config.devices.activationTtlMs,
    );
    // The configured public URL, never the request's Host: the phone enrols with, and trusts, this server. The QR
    // code holds the https link of the authenticator page, which a phone's camera opens; an app takes the
    // gatehouse:// form.
    const uri = `gatehouse://activate?${new URLSearchParams({ server: deps.urls.base, code }).toString()}`;
    const link = `${deps.urls.base}/authenticator?${new URLSearchParams({ activate: code }).toString()}`;
    return {
      activationCode: code,
      activationUri: uri,
      activationLink: link,
      expiresAt: new Date(expiresAt).toISOString(),
    };
  });

  const activate = { config: { rateLimit, operation: ops.activateMobile } };
  app.post('/v1/devices/mobile/activate', activate, async (request) => {
    const body = parseWith(ops.activateMobile.body, request.body);
    const pinHash = body.pin === undefined ? null : await deps.hasher.hash(body.pin);
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
    await deps.notifier.notify(userId, 'factor_added', { factor: 'push', device: body.name });
    return { deviceId, status: 'active' };
  });

  // The desktop client registers its workstation's key right after a login with a security key. The request is
  // signed by the new key (x-device-proof over this request and token): possession is proven, not claimed. The
  // session is bound to the key from then on.
  app.post('/v1/devices/desktop', authenticated(ops.registerDesktop), async (request) => {
    const principal = principalOf(request);
    const { session } = principal;
    const body = parseWith(ops.registerDesktop.body, request.body);
    const now = clock.now();
    if (
      session.channel !== 'desktop' ||
      session.deviceId !== null ||
      session.lastFactor !== 'webauthn' ||
      session.secondFactorAt === null ||
      now - session.secondFactorAt > DESKTOP_REGISTRATION_WINDOW_MS
    ) {
      throw new GatehouseError('DEVICE_REGISTRATION_NOT_ALLOWED');
    }
    const parsed = parseP256PublicJwk(body.publicKey);
    if (parsed === null) {
      throw new GatehouseError(
        'INVALID_REQUEST',
        'publicKey must be a P-256 public JWK {kty:"EC",crv:"P-256",x,y}.',
      );
    }
    await deps.auth.verifyRequestProof(request, {
      key: parsed.key,
      deviceId: `new:${parsed.jwk.x}`,
      token: bearerToken(request) ?? '',
    });
    const { ip } = clientInfo(request);
    const deviceId = await db.transaction().execute(async (trx) => {
      const id = await registerDesktopDevice(trx, clock, {
        userId: session.userId,
        jwk: parsed.jwk,
        name: body.name,
        platform: body.platform,
        ip,
      });
      if (!(await deps.sessions.bindDevice(session, id, trx)))
        throw new GatehouseError('DEVICE_REGISTRATION_NOT_ALLOWED');
      await appendAudit(trx, clock, {
        type: 'device.enrolled',
        userId: session.userId,
        sessionId: session.id,
        ip,
        data: { deviceId: id, kind: 'desktop', platform: body.platform },
      });
      return id;
    });
    await deps.sessions.announceChange(session);
    await deps.notifier.notify(session.userId, 'factor_added', { factor: 'device_key', device: body.name });
    return { deviceId, kind: 'desktop', status: 'active' };
  });

  app.get('/v1/devices', authenticated(ops.list), async (request) => ({
    devices: await listDevices(db, principalOf(request).session.userId),
  }));

  // Renaming, trusting and revoking a device need what factor changes need: a second factor in the last 5 minutes,
  // stronger than SMS, and no step-up pending. A cookie stolen and used from another network must not be able to
  // revoke the owner's phone (their push factor) or browser, nor trust the thief's.
  const sensitive = async (request: FastifyRequest) => {
    const principal = principalOf(request);
    await requireSensitive(db, clock, principal, { factorChange: true });
    return principal;
  };

  app.patch('/v1/devices/:id', authenticated(ops.update), async (request) => {
    const { id } = parseWith(ops.update.params, request.params);
    const change = parseWith(ops.update.body, request.body);
    const { session } = await sensitive(request);
    return updateDevice(db, session.userId, id, change);
  });

  app.delete('/v1/devices/:id', authenticated(ops.revoke), async (request) => {
    const { id } = parseWith(ops.revoke.params, request.params);
    const { session } = await sensitive(request);
    const device = await revokeDevice(db, session.userId, id, (trx, userId, deviceId) =>
      requireAnotherFactor(trx, userId, { deviceId }),
    );
    const endedSessions = await deps.sessions.revokeForDevice(id);
    await appendAudit(db, clock, {
      type: 'device.revoked',
      userId: session.userId,
      sessionId: session.id,
      ip: clientInfo(request).ip,
      data: { deviceId: id, endedSessions },
    });
    // Its push stream closes on whichever node holds it: a revoked phone is told so and receives nothing more.
    await deps.bus.publish('device.revoked', { deviceId: id });
    if (device.kind !== 'browser') {
      const factor = device.kind === 'mobile' ? 'push' : 'device_key';
      await deps.notifier.notify(session.userId, 'factor_removed', { factor, device: device.name });
    }
    return device;
  });

  // A test push to one of the user's active phones: the same prompt as a login's, logging nobody in.
  app.post('/v1/devices/:id/test-push', authenticated(ops.testPush), async (request) => {
    const { id } = parseWith(ops.testPush.params, request.params);
    const principal = principalOf(request);
    const { session } = principal;
    // A session asked to verify again (a move to another network: perhaps a stolen cookie) does not ring the phone.
    await requireSensitive(db, clock, principal);
    const device = await db
      .selectFrom('devices')
      .select(['id'])
      .where('id', '=', id)
      .where('user_id', '=', session.userId)
      .where('kind', '=', 'mobile')
      .where('status', '=', 'active')
      .executeTakeFirst();
    if (device === undefined) throw new GatehouseError('DEVICE_NOT_FOUND');
    const { ip, userAgent } = clientInfo(request);
    const created = await createTestPush(db, clock, {
      userId: session.userId,
      ttlMs: deps.config.push.timeoutMs,
      context: {
        channel: 'test',
        requestingDevice: describeUserAgent(userAgent),
        ip,
        network: networkOf(ip),
        time: new Date(clock.now()).toISOString(),
      },
    });
    await appendAudit(db, clock, {
      type: 'push.sent',
      userId: session.userId,
      sessionId: session.id,
      ip,
      data: { challengeId: created.challengeId, devices: 1, purpose: 'test' },
    });
    const { state, ...wire } = created;
    await deps.push.deliver([device.id], wire);
    return { challengeId: created.challengeId, number: created.number, expiresAt: created.expiresAt };
  });

  app.get('/v1/devices/push/:challengeId', authenticated(ops.pushState), async (request) => {
    const { challengeId } = parseWith(ops.pushState.params, request.params);
    const state = await getPushState(db, clock, challengeId);
    if (state === undefined || state.userId !== principalOf(request).session.userId)
      throw new GatehouseError('PUSH_CHALLENGE_INVALID');
    return { challengeId, status: state.status };
  });

  // A signed decision needs no session: the device's signature is its authentication.
  const decide = { config: { rateLimit, operation: ops.decide } };
  app.post('/v1/devices/push/:challengeId/decision', decide, async (request) => {
    const { challengeId } = parseWith(ops.decide.params, request.params);
    const body = parseWith(ops.decide.body, request.body);
    const state = await answerPush(deps.pushAnswers, { ...body, challengeId }, clientInfo(request).ip);
    return { challengeId, status: state.status };
  });
}

/**
 * `POST /v1/travel`, `GET /v1/travel`, `DELETE /v1/travel/{id}`: the user's travel notices (devices/travel.ts).
 * People only (a program's token: `API_NOT_ALLOWED`), each their own. Announcing a trip lowers a check, so it needs
 * what the other sensitive security changes need: no step-up pending — a session that itself came from a new
 * country cannot announce the trip that would excuse it — its device key (desktop), and a second factor in the last
 * 5 minutes; and a user who may trade on some account (the account-access policy: a viewer has no trading a notice
 * could ease, `ROLE_NOT_ALLOWED`). Listing and cancelling need only the user's own session.
 */
export interface TravelRoutesDeps {
  auth: Authenticator;
  clock: Clock;
  config: Pick<Config, 'travel'>;
  db: Kysely<Database>;
}

export async function travelRoutes(app: FastifyInstance, deps: TravelRoutesDeps): Promise<void> {
  const { db, clock } = deps;
  const travel = travelOperations;
  const limits = {
    maxNoticeDays: deps.config.travel.maxNoticeDays,
    maxNotices: deps.config.travel.maxNotices,
  };

  app.post('/v1/travel', deps.auth.forPeople({ operation: travel.announce }), async (request) => {
    const input = parseWith(travel.announce.body, request.body);
    const principal = principalOf(request);
    await requireSensitive(db, clock, principal, { recentSecondFactor: true });
    if (accountsFor(principal, 'trade').length === 0)
      throw new GatehouseError('ROLE_NOT_ALLOWED', undefined, { need: 'trade' });
    const { session } = principal;
    return createNotice(db, clock, session.userId, input, limits, (trx, notice) =>
      appendAudit(trx, clock, {
        type: 'travel.announced',
        userId: session.userId,
        sessionId: session.id,
        ip: clientInfo(request).ip,
        data: { noticeId: notice.id, country: notice.country, from: notice.from, to: notice.to },
      }),
    );
  });

  app.get('/v1/travel', deps.auth.forPeople({ operation: travel.list }), async (request) => ({
    notices: await listNotices(db, principalOf(request).session.userId, clock.now()),
  }));

  app.delete('/v1/travel/:id', deps.auth.forPeople({ operation: travel.cancel }), async (request) => {
    const { id } = parseWith(travel.cancel.params, request.params);
    const { session } = principalOf(request);
    return deleteNotice(db, session.userId, id, (trx, notice) =>
      appendAudit(trx, clock, {
        type: 'travel.cancelled',
        userId: session.userId,
        sessionId: session.id,
        ip: clientInfo(request).ip,
        data: { noticeId: notice.id, country: notice.country, from: notice.from, to: notice.to },
      }),
    );
  });
}

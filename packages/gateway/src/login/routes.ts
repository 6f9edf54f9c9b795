/**
 * @module login/routes
 * `POST /v1/auth/login` and `POST /v1/auth/login/{loginId}/factor`. Both are rate limited per client address
 * before any work is done; per-user backoff happens inside the login service.
 */
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/index.js';
import { GatehouseError, type KeySource } from '../core/index.js';
import { DEVICE_COOKIE_MAX_AGE_MS } from '../devices/index.js';
import { listSimulatedLoginTexts, presentSmsSent } from '../factors/index.js';
import {
  type Authenticator,
  clientInfo,
  parseWith,
  principalOf,
  setDeviceCookie,
  setSessionCookie,
  withRenewedToken,
} from '../http/index.js';
import { csrfTokenFor, presentSession, type SessionRecord, usesDeviceKey } from '../sessions/index.js';
import type {
  CodeFactors,
  DeviceLogins,
  LoginCompletion,
  LoginLimits,
  LoginTransactions,
  PasswordChecks,
  PushLogins,
  WebauthnLogins,
} from './deps.js';
import { startDesktopLogin } from './desktop.js';
import { mobileLogin } from './mobile.js';
import { pollLogin, startPushLogin } from './push-login.js';
import { loginOperations as ops } from './schema.js';
import { completeLoginFactor, sendLoginSms, startLogin } from './service.js';
import { sendStepUpSms, stepUp } from './step-up.js';
import { abandonLogin, findOpenLogin, type LoginCompleted } from './transaction.js';
import { completeWebauthnLogin, startWebauthnLogin } from './webauthn-login.js';

/** What these routes need of the gateway: every part of the login steps (they call each), and their own. */
export interface LoginRoutesDeps
  extends LoginLimits,
    LoginTransactions,
    LoginCompletion,
    PasswordChecks,
    CodeFactors,
    PushLogins,
    WebauthnLogins,
    DeviceLogins {
  auth: Authenticator;
  config: Pick<Config, 'login' | 'push' | 'development'>;
  csrfKey: KeySource;
}

export async function loginRoutes(app: FastifyInstance, deps: LoginRoutesDeps): Promise<void> {
  const rateLimit = {
    max: deps.config.login.ipRateLimitMax,
    timeWindow: deps.config.login.ipRateLimitWindowMs,
    errorResponseBuilder: (_request: unknown, context: { ttl: number }) =>
      new GatehouseError('RATE_LIMITED', undefined, { retryAfterMs: context.ttl }),
  };
  // A waiting login polls often; it may poll ten times as often as it may try credentials.
  const pollRateLimit = { ...rateLimit, max: deps.config.login.ipRateLimitMax * 10 };

  app.post('/v1/auth/login', { config: { rateLimit, operation: ops.start } }, async (request, reply) => {
    const body = parseWith(ops.start.body, request.body);
    if (body.channel === 'mobile') {
      const { token, session } = await mobileLogin(deps, body, clientInfo(request));
      return bearerBody(token, session);
    }
    if (body.channel === 'desktop') {
      const outcome = await startDesktopLogin(deps, body, clientInfo(request));
      return 'token' in outcome ? authenticated(request, reply, outcome) : outcome;
    }
    return startLogin(deps, body, clientInfo(request));
  });

  const factor = { config: { rateLimit, operation: ops.factor } };
  app.post('/v1/auth/login/:loginId/factor', factor, async (request, reply) => {
    const { loginId } = parseWith(ops.factor.params, request.params);
    const body = parseWith(ops.factor.body, request.body);
    if (body.type === 'push') return startPushLogin(deps, loginId, clientInfo(request));
    if (body.type === 'webauthn') {
      const response = body.response as unknown as AuthenticationResponseJSON;
      return authenticated(
        request,
        reply,
        await completeWebauthnLogin(deps, loginId, response, clientInfo(request)),
      );
    }
    const done = await completeLoginFactor(deps, loginId, body, clientInfo(request));
    return authenticated(request, reply, done);
  });

  // Long-poll for a started login: push pending / fallback offered / authenticated (sets the cookie).
  const poll = { config: { rateLimit: pollRateLimit, operation: ops.poll } };
  app.get('/v1/auth/login/:loginId', poll, async (request, reply) => {
    const { loginId } = parseWith(ops.poll.params, request.params);
    const { waitMs } = parseWith(ops.poll.query, request.query);
    const state = await pollLogin(deps, loginId, clientInfo(request), waitMs ?? deps.config.push.longPollMs);
    if (state.status !== 'authenticated') return state;
    return authenticated(request, reply, state);
  });

  // A login given up: no body, so a closing page's beacon may send it.
  const abandon = { config: { rateLimit: pollRateLimit, operation: ops.abandon } };
  app.post('/v1/auth/login/:loginId/abandon', abandon, async (request, reply) => {
    const { loginId } = parseWith(ops.abandon.params, request.params);
    await abandonLogin(deps, loginId);
    return reply.status(204).send();
  });

  /** Channels bound to a device key get the token in the body, never in a cookie (apps do not keep cookies). */
  function bearerBody(token: string, session: SessionRecord) {
    return {
      status: 'authenticated',
      session: presentSession(session, session.id),
      token,
      tokenType: 'Bearer',
    };
  }

  function authenticated(request: FastifyRequest, reply: FastifyReply, done: LoginCompleted) {
    const { token, session } = done;
    let credentials: Record<string, unknown>;
    if (usesDeviceKey(session.channel)) {
      credentials = {
        ...bearerBody(token, session),
        // A desktop session without a device key may register one now (POST /v1/devices/desktop).
        ...(session.deviceId === null ? { deviceKeyRegistration: 'available' } : {}),
      };
    } else {
      setSessionCookie(request, reply, token, session.expiresAt - session.createdAt);
      if (done.deviceCookie !== undefined)
        setDeviceCookie(request, reply, done.deviceCookie, DEVICE_COOKIE_MAX_AGE_MS);
      credentials = {
        status: 'authenticated',
        session: presentSession(session, session.id),
        csrfToken: csrfTokenFor(deps.csrfKey, session.id),
      };
    }
    return {
      ...credentials,
      backupFactorMissing: done.backupFactorMissing,
      ...(done.remainingRecoveryCodes === undefined
        ? {}
        : {
            notice: 'recovery_code_used',
            remainingRecoveryCodes: done.remainingRecoveryCodes,
            suggestion: 'Enrol a new device or authenticator, and generate new recovery codes.',
          }),
    };
  }

  // A step-up re-authenticates: the session gets a new token and the one this request carried ends (ASVS 5.0
  // 7.2.4). The web gets it as a new cookie (the CSRF token, derived from the session id, stays); the device-bound
  // channels in the body, as at login, to present from now on (their device proofs hash the new token).
  const stepUpRoute = deps.auth.forPeople({ rateLimit, operation: ops.stepUp });
  app.post('/v1/session/step-up', stepUpRoute, async (request, reply) => {
    const body = parseWith(ops.stepUp.body, request.body);
    const principal = principalOf(request);
    const token = await stepUp(deps, principal, body, clientInfo(request));
    const { session } = principal;
    return withRenewedToken(request, reply, session, token, deps.clock.now(), {
      status: 'stepped_up',
      session: presentSession(session, session.id),
    });
  });

  const stepUpSms = deps.auth.forPeople({ rateLimit, operation: ops.stepUpSms });
  app.post('/v1/session/step-up/sms', stepUpSms, async (request) => {
    return presentSmsSent(await sendStepUpSms(deps, principalOf(request), clientInfo(request)));
  });

  const webauthnOptions = { config: { rateLimit, operation: ops.webauthnOptions } };
  app.post('/v1/auth/login/:loginId/webauthn/options', webauthnOptions, async (request) => {
    const { loginId } = parseWith(ops.webauthnOptions.params, request.params);
    return startWebauthnLogin(deps, loginId, clientInfo(request));
  });

  app.post('/v1/auth/login/:loginId/sms', { config: { rateLimit, operation: ops.sms } }, async (request) => {
    const { loginId } = parseWith(ops.sms.params, request.params);
    const sent = await sendLoginSms(deps, loginId, clientInfo(request));
    const demo = deps.config.development.exposeOutboxes;
    return { ...presentSmsSent(sent), ...(demo ? { simulatedTexts: true } : {}) };
  });

  // A demo instance's SMS simulator stores texts instead of sending them. The person logging in may read the text
  // of their own login: the handle proves the login (as for its other steps, and under the same limits); only texts
  // sent for this login's transaction are answered — never another login's, of this user or another.
  if (deps.config.development.exposeOutboxes) {
    const texts = { config: { rateLimit: pollRateLimit, operation: ops.simulatedTexts } };
    app.get('/v1/auth/login/:loginId/simulated-texts', texts, async (request) => {
      const { loginId } = parseWith(ops.simulatedTexts.params, request.params);
      const tx = await findOpenLogin(deps, loginId, clientInfo(request));
      return { messages: await listSimulatedLoginTexts(deps.db, tx.id) };
    });
  }
}

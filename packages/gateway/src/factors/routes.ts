/**
 * @module factors/routes
 * The user's factor registry: list, enrol (TOTP, SMS; confirmed by a first code), rename, remove, and recovery
 * codes. Every change needs a second factor verified in the last 5 minutes by something stronger than SMS, is
 * audited, and is notified to the user (ASVS 2.2.3, 2.5.x).
 */
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import type { Config } from '../config/index.js';
import { type Clock, GatehouseError, newId, type SecretBox } from '../core/index.js';
import { type Authenticator, clientInfo, type Operation, parseWith, principalOf } from '../http/index.js';
import type { Notifier } from '../notifications/index.js';
import { requireSensitive } from '../sessions/index.js';
import type { Database } from '../store/index.js';
import type { SmsSender } from './index.js';
import { presentFactor, presentSmsSent } from './presenter.js';
import { generateRecoveryCodes, recoveryCodeStatus } from './recovery.js';
import {
  activateFactor,
  backupFactorMissing,
  getFactor,
  insertFactor,
  listFactors,
  removeFactor,
  renameFactor,
} from './registry.js';
import { factorOperations as ops } from './schema.js';
import { sendSmsCode, verifySmsCode } from './sms.js';
import { addTotpFactor, matchTotpStep, openSeed } from './totp.js';
import { registerCredential, registrationOptions } from './webauthn.js';

/** What these routes need of the gateway. */
export interface FactorRoutesDeps {
  auth: Authenticator;
  box: SecretBox;
  clock: Clock;
  config: Pick<Config, 'totp' | 'webauthn'>;
  db: Kysely<Database>;
  notifier: Notifier;
  sms: SmsSender;
}

export async function factorRoutes(app: FastifyInstance, deps: FactorRoutesDeps): Promise<void> {
  const authenticated = (operation: Operation) => deps.auth.forPeople({ operation });
  const { db } = deps;
  const { clock } = deps;

  const sensitive = async (request: FastifyRequest) => {
    const principal = principalOf(request);
    await requireSensitive(db, clock, principal, { factorChange: true });
    return principal;
  };

  app.get('/v1/factors', authenticated(ops.list), async (request) => {
    const { session } = principalOf(request);
    const factors = await listFactors(db, session.userId);
    return {
      factors: factors.map(presentFactor),
      // `outdated`: unused codes of the earlier 80-bit format, which a new set should replace (factors/recovery).
      recoveryCodes: await recoveryCodeStatus(db, session.userId),
      backupFactorMissing: await backupFactorMissing(db, session.userId),
    };
  });

  app.post('/v1/factors/totp', authenticated(ops.enrolTotp), async (request) => {
    const body = parseWith(ops.enrolTotp.body, request.body);
    const { session, profile } = await sensitive(request);
    const enrolment = await addTotpFactor(db, clock, deps.box, {
      userId: session.userId,
      label: body.label ?? 'Authenticator app',
      issuer: deps.config.totp.issuer,
      accountName: profile.user.username,
      pending: true,
    });
    return { factorId: enrolment.factorId, status: 'pending', secret: enrolment.secret, uri: enrolment.uri };
  });

  app.post('/v1/factors/sms', authenticated(ops.enrolSms), async (request) => {
    const body = parseWith(ops.enrolSms.body, request.body);
    const { session } = await sensitive(request);
    const factorId = newId('fac');
    await insertFactor(db, clock, {
      id: factorId,
      user_id: session.userId,
      type: 'sms',
      label: body.label ?? 'Text message',
      status: 'pending',
      phone: body.phone,
    });
    // A code the resend limits refuse leaves no pending factor behind: a refused request changes nothing.
    const sent = await sendSmsCode(db, clock, deps.sms, session.userId, factorId, {
      purpose: 'enrol',
      factorId,
    }).catch(async (error: unknown) => {
      await db
        .deleteFrom('second_factors')
        .where('id', '=', factorId)
        .where('status', '=', 'pending')
        .execute();
      throw error;
    });
    return { factorId, ...presentSmsSent(sent), status: 'pending' };
  });

  app.post('/v1/factors/:id/confirm', authenticated(ops.confirm), async (request) => {
    const { id } = parseWith(ops.confirm.params, request.params);
    const { code } = parseWith(ops.confirm.body, request.body);
    const { session } = await sensitive(request);
    const factor = await getFactor(db, session.userId, id);
    if (factor.status !== 'pending') throw new GatehouseError('FACTOR_NOT_FOUND');
    let ok = false;
    if (factor.type === 'totp') {
      const row = await db
        .selectFrom('second_factors')
        .select('secret_sealed')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const step =
        row.secret_sealed === null
          ? null
          : ((seed) =>
              seed === null ? null : matchTotpStep(seed, code, clock.now(), deps.config.totp.window))(
              openSeed(deps.box, row.secret_sealed, id, request.log),
            );
      if (step !== null) {
        await db.updateTable('second_factors').set({ last_used_step: step }).where('id', '=', id).execute();
        ok = true;
      }
    } else if (factor.type === 'sms') {
      // Only a code sent to confirm this factor (ASVS 5.0 6.6.2).
      const check = await verifySmsCode(db, clock, session.userId, code, { purpose: 'enrol', factorId: id });
      ok = check.ok;
    }
    if (!ok) throw new GatehouseError('INVALID_CREDENTIALS');
    await activateFactor(db, clock, id);
    await appendAudit(db, clock, {
      type: 'factor.added',
      userId: session.userId,
      sessionId: session.id,
      ip: clientInfo(request).ip,
      data: { factor: factor.type, factorId: id },
    });
    await deps.notifier.notify(session.userId, 'factor_added', { factor: factor.type, label: factor.label });
    return {
      factorId: id,
      status: 'active',
      backupFactorMissing: await backupFactorMissing(db, session.userId),
    };
  });

  app.post('/v1/factors/recovery-codes', authenticated(ops.recoveryCodes), async (request) => {
    const { session } = await sensitive(request);
    const codes = await generateRecoveryCodes(db, clock, session.userId);
    await appendAudit(db, clock, {
      type: 'recovery.generated',
      userId: session.userId,
      sessionId: session.id,
      ip: clientInfo(request).ip,
      data: { count: codes.length },
    });
    await deps.notifier.notify(session.userId, 'factor_added', {
      factor: 'recovery_code',
      count: codes.length,
    });
    return { codes, notice: 'Shown once. Keep them offline; each works once.' };
  });

  app.post('/v1/factors/webauthn/options', authenticated(ops.webauthnOptions), async (request) => {
    const { profile } = await sensitive(request);
    return registrationOptions(db, clock, deps.config.webauthn, profile.user);
  });

  app.post('/v1/factors/webauthn', authenticated(ops.registerWebauthn), async (request) => {
    const body = parseWith(ops.registerWebauthn.body, request.body);
    const { session } = await sensitive(request);
    const response = body.response as unknown as RegistrationResponseJSON;
    const { factorId, hardwareBound } = await registerCredential(
      db,
      clock,
      deps.config.webauthn,
      session.userId,
      response,
      body.label ?? 'Security key',
    );
    await appendAudit(db, clock, {
      type: 'factor.added',
      userId: session.userId,
      sessionId: session.id,
      ip: clientInfo(request).ip,
      data: { factor: 'webauthn', factorId, hardwareBound },
    });
    await deps.notifier.notify(session.userId, 'factor_added', {
      factor: 'webauthn',
      label: body.label ?? 'Security key',
    });
    return {
      factorId,
      status: 'active',
      hardwareBound,
      backupFactorMissing: await backupFactorMissing(db, session.userId),
    };
  });

  app.patch('/v1/factors/:id', authenticated(ops.rename), async (request) => {
    const { id } = parseWith(ops.rename.params, request.params);
    const { label } = parseWith(ops.rename.body, request.body);
    const { session } = await sensitive(request);
    await renameFactor(db, session.userId, id, label);
    await appendAudit(db, clock, {
      type: 'factor.renamed',
      userId: session.userId,
      sessionId: session.id,
      ip: clientInfo(request).ip,
      data: { factorId: id },
    });
    return { factorId: id, label };
  });

  app.delete('/v1/factors/:id', authenticated(ops.remove), async (request) => {
    const { id } = parseWith(ops.remove.params, request.params);
    const { session } = await sensitive(request);
    const removed = await removeFactor(db, session.userId, id);
    await appendAudit(db, clock, {
      type: 'factor.removed',
      userId: session.userId,
      sessionId: session.id,
      ip: clientInfo(request).ip,
      data: { factor: removed.type, factorId: id },
    });
    await deps.notifier.notify(session.userId, 'factor_removed', {
      factor: removed.type,
      label: removed.label,
    });
    return {
      factorId: id,
      status: 'removed',
      backupFactorMissing: await backupFactorMissing(db, session.userId),
    };
  });
}

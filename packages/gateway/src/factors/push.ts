/**
 * @module factors/push
 * Push approval from an enrolled mobile device (the IB Key analogue). A login that chooses push creates a challenge
 * carrying what the person needs to decide (channel, device, address, network, time) and a 2-digit number that the
 * login screen shows; the phone shows the same number and the person approves only if they match. The device
 * signs `{challengeId, decision, number}` with its enrolled P-256 key; the server verifies the signature, the
 * number and that the challenge belongs to the device's user. Delivery goes through a `PushTransport`, and a
 * delivery receipt from the device is recorded so that a login screen can offer fallback factors when none comes.
 *
 * A wrong number denies the challenge (status `wrong_number`), as Microsoft Authenticator's number matching does:
 * the phone cannot go on picking numbers until one works, which is what push bombing counts on (a tired user
 * approving a login that is not theirs; ASVS 5.0 6.6.4). The login stays open but needs a new push, which comes with
 * a new number, and the wrong one spends one of the login's second-factor attempts. A wrong number is audited and
 * the user is told where the login came from: it is the mark of someone else holding their password.
 *
 * Every push ends in exactly one final state — approved, denied, wrong_number, expired or cancelled — decided here
 * and told to both screens: the login screen by its poll or stream, the phone by its device stream
 * (factors/device-hub). A login's pending push is cancelled when the login completes with another factor, fails,
 * or sends a newer push (`cancelLoginPushes`), and expires no later than its login: a prompt left on a phone after
 * its login ended trains people to approve without reading.
 *
 * The failure sandbox denies a push as the person on the phone would (`denyPushOnDevice`, for `push.auto_denied`):
 * the same update, audit, notification and wake-up as a signed denial, without the device's key.
 */
import { randomInt } from 'node:crypto';
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import { type Clock, type EventBus, GatehouseError, newId } from '../core/index.js';
import {
  decisionMessage,
  loadSigningDevice,
  markDeviceSeen,
  verifyDeviceSignature,
} from '../devices/index.js';
import type { Notifier } from '../notifications/index.js';
import type { Database, PushChallengesTable } from '../store/index.js';

export interface PushContext {
  channel: string;
  /** What asked to log in: the browser's user agent, shortened. */
  requestingDevice: string;
  ip: string;
  network: string | null;
  time: string;
}

/** What a device receives. */
export interface PushMessage {
  type: 'push';
  challengeId: string;
  /** `test`: sent from the Security page to check a phone; it logs nobody in. */
  purpose: 'login' | 'test';
  number: string;
  context: PushContext;
  expiresAt: string;
}

/** Delivers push messages to a user's enrolled devices (the default sends them over each device's stream). */
export interface PushTransport {
  deliver(deviceIds: readonly string[], message: PushMessage): Promise<void>;
}

/**
 * `wrong_number`: the device answered with another number than the login screen's; the challenge is void.
 * `cancelled`: its login completed with another factor, failed, or sent a newer push (`cancelLoginPushes`).
 */
export type PushStatus = 'pending' | 'approved' | 'denied' | 'wrong_number' | 'expired' | 'cancelled';

/** Every status but `pending` is final: the one outcome both the login screen and the device are told. */
export const isFinalPush = (status: PushStatus): boolean => status !== 'pending';

export interface PushState {
  id: string;
  userId: string;
  loginId: string | null;
  number: string;
  /** What the person was shown: where the login came from. */
  context: PushContext;
  status: PushStatus;
  createdAt: number;
  expiresAt: number;
  deliveredAt: number | null;
}

function toState(r: PushChallengesTable, now: number): PushState {
  const expired = r.status === 'pending' && now >= r.expires_at;
  return {
    id: r.id,
    userId: r.user_id,
    loginId: r.login_id,
    number: r.number,
    context: JSON.parse(r.context) as PushContext,
    status: expired ? 'expired' : (r.status as PushStatus),
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    deliveredAt: r.delivered_at,
  };
}

export async function createPushChallenge(
  db: Kysely<Database>,
  clock: Clock,
  input: { userId: string; loginId: string | null; context: PushContext; ttlMs: number },
): Promise<PushMessage & { state: PushState }> {
  const now = clock.now();
  // A login's pushes are ordered by creation time: a new one is made at least a millisecond after the last.
  const last =
    input.loginId === null
      ? undefined
      : await db
          .selectFrom('push_challenges')
          .select((eb) => eb.fn.max('created_at').as('at'))
          .where('login_id', '=', input.loginId)
          .executeTakeFirst();
  const lastAt = last?.at === null || last?.at === undefined ? null : Number(last.at);
  const row: PushChallengesTable = {
    id: newId('psh'),
    user_id: input.userId,
    login_id: input.loginId,
    number: String(randomInt(10, 100)),
    context: JSON.stringify(input.context),
    status: 'pending',
    created_at: lastAt === null ? now : Math.max(now, lastAt + 1),
    expires_at: now + input.ttlMs,
    delivered_at: null,
    decided_at: null,
    device_id: null,
  };
  await db.insertInto('push_challenges').values(row).execute();
  return {
    type: 'push',
    challengeId: row.id,
    purpose: input.loginId === null ? 'test' : 'login',
    number: row.number,
    context: input.context,
    expiresAt: new Date(row.expires_at).toISOString(),
    state: toState(row, now),
  };
}

export async function getPushState(
  db: Kysely<Database>,
  clock: Clock,
  challengeId: string,
): Promise<PushState | undefined> {
  const row = await db
    .selectFrom('push_challenges')
    .selectAll()
    .where('id', '=', challengeId)
    .executeTakeFirst();
  return row === undefined ? undefined : toState(row, clock.now());
}

/** The newest challenge of a login transaction (`createPushChallenge` keeps a login's creation times distinct). */
export async function latestPushForLogin(
  db: Kysely<Database>,
  clock: Clock,
  loginId: string,
): Promise<PushState | undefined> {
  const row = await db
    .selectFrom('push_challenges')
    .selectAll()
    .where('login_id', '=', loginId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst();
  return row === undefined ? undefined : toState(row, clock.now());
}

/**
 * Cancels a login's pending pushes (its login completed with another factor, failed, or sends a newer push), in the
 * caller's transaction; returns their ids for `announceCancelled` once it commits. A prompt left on the phone after
 * its login ended trains people to approve without reading (push fatigue), so none stays.
 */
export async function cancelLoginPushes(
  db: Kysely<Database>,
  clock: Clock,
  loginId: string,
): Promise<string[]> {
  const now = clock.now();
  const pending = await db
    .selectFrom('push_challenges')
    .select('id')
    .where('login_id', '=', loginId)
    .where('status', '=', 'pending')
    .execute();
  if (pending.length === 0) return [];
  await db
    .updateTable('push_challenges')
    .set({ status: 'cancelled', decided_at: now })
    .where('login_id', '=', loginId)
    .where('status', '=', 'pending')
    .execute();
  return pending.map((p) => p.id);
}

/** Tells every node that these pushes changed: the devices holding their prompts drop them (factors/device-hub). */
export async function announceCancelled(
  bus: EventBus,
  loginId: string,
  challengeIds: readonly string[],
): Promise<void> {
  for (const challengeId of challengeIds) await bus.publish('push.updated', { challengeId, loginId });
}

async function pendingFor(db: Kysely<Database>, clock: Clock, challengeId: string, userId: string) {
  const state = await getPushState(db, clock, challengeId);
  if (state === undefined || state.userId !== userId || state.status !== 'pending') {
    throw new GatehouseError('PUSH_CHALLENGE_INVALID');
  }
  return state;
}

/** Records that a device received the challenge (first receipt wins). */
export async function recordPushReceipt(
  db: Kysely<Database>,
  clock: Clock,
  deviceId: string,
  challengeId: string,
): Promise<PushState> {
  const device = await loadSigningDevice(db, deviceId);
  const state = await pendingFor(db, clock, challengeId, device.userId);
  await db
    .updateTable('push_challenges')
    .set({ delivered_at: clock.now() })
    .where('id', '=', challengeId)
    .where('delivered_at', 'is', null)
    .execute();
  return { ...state, deliveredAt: state.deliveredAt ?? clock.now() };
}

export interface PushDecision {
  deviceId: string;
  challengeId: string;
  decision: 'approve' | 'deny';
  number: string;
  signature: string;
}

/**
 * Applies a signed decision. Order of checks: the device and its signature first (so nothing about a challenge is
 * revealed to an unauthenticated caller), then that the challenge is this user's and still pending, then the
 * number: an approval with another number than the challenge's denies it (`wrong_number`) and spends one of its
 * login's second-factor attempts. The state change is one conditional UPDATE, so of two decisions racing (two
 * devices, or one device sending several numbers) exactly one applies; the others find the challenge decided.
 * Returns the state the decision left (`approved`, `denied` or `wrong_number`).
 */
export async function decidePush(
  deps: Pick<PushAnswerDeps, 'db' | 'clock' | 'spendLoginAttempt'>,
  input: PushDecision,
): Promise<PushState> {
  const { db, clock } = deps;
  const device = await loadSigningDevice(db, input.deviceId);
  if (
    !verifyDeviceSignature(
      device.key,
      decisionMessage(input.challengeId, input.decision, input.number),
      input.signature,
    )
  ) {
    throw new GatehouseError('SIGNATURE_INVALID');
  }
  const state = await pendingFor(db, clock, input.challengeId, device.userId);
  const status: PushStatus =
    input.decision === 'deny' ? 'denied' : input.number === state.number ? 'approved' : 'wrong_number';
  return applyDecision(deps, state, device.id, status);
}

/**
 * Moves a pending challenge to `status` as decided on `deviceId`: one conditional UPDATE, so of two decisions racing
 * exactly one applies and the others find it decided (`PUSH_CHALLENGE_INVALID`).
 */
async function applyDecision(
  deps: Pick<PushAnswerDeps, 'db' | 'clock' | 'spendLoginAttempt'>,
  state: PushState,
  deviceId: string,
  status: PushStatus,
): Promise<PushState> {
  const { db, clock } = deps;
  const now = clock.now();
  const applied = await db.transaction().execute(async (trx) => {
    const result = await trx
      .updateTable('push_challenges')
      .set({ status, decided_at: now, device_id: deviceId, delivered_at: state.deliveredAt ?? now })
      .where('id', '=', state.id)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) return false;
    if (status === 'wrong_number' && state.loginId !== null) await deps.spendLoginAttempt(trx, state.loginId);
    return true;
  });
  if (!applied) throw new GatehouseError('PUSH_CHALLENGE_INVALID');
  await markDeviceSeen(db, deviceId, now);
  return { ...state, status, deliveredAt: state.deliveredAt ?? now };
}

const DECISION_AUDIT = {
  approved: 'push.approved',
  denied: 'push.denied',
  wrong_number: 'push.wrong_number',
} as const;

export interface PushAnswerDeps {
  db: Kysely<Database>;
  clock: Clock;
  notifier: Notifier;
  bus: EventBus;
  /**
   * Spends one of a waiting login's second-factor attempts on a wrong number, inside the decision's transaction
   * (the login owns its attempts: login/transaction.ts).
   */
  spendLoginAttempt(trx: Kysely<Database>, loginId: string): Promise<void>;
}

/**
 * A device's decision as both of its ways in (`POST /v1/devices/push/{id}/decision`, the device stream) take it:
 * applied, audited, the user told of a denial or a wrong number, and the waiting login woken on every node. A wrong
 * number then answers the device `WRONG_NUMBER` (the challenge is already void). `ip` is the device's address.
 */
export async function answerPush(
  deps: PushAnswerDeps,
  input: PushDecision,
  ip: string | null,
): Promise<PushState> {
  const state = await decidePush(deps, input);
  await announceDecision(deps, state, input.deviceId, ip, {});
  if (state.status === 'wrong_number') throw new GatehouseError('WRONG_NUMBER');
  return state;
}

/** What a denial on the user's behalf needs: a denial spends none of the login's attempts. */
export type PushDenialDeps = Omit<PushAnswerDeps, 'spendLoginAttempt'>;

/**
 * A denial from the person holding an enrolled device, applied without the device's signature: the failure
 * sandbox's `push.auto_denied` (sandbox/factor-faults.ts) stands in for someone tapping Deny on their phone. The
 * device must be an active mobile device of the challenge's user, and the challenge pending; the denial is then
 * applied, audited (`push.denied`, with `audit` added to its data), notified and announced exactly as a signed
 * one, so the waiting login gets `PUSH_DENIED`.
 */
export async function denyPushOnDevice(
  deps: PushDenialDeps,
  input: { deviceId: string; challengeId: string },
  audit: Record<string, unknown> = {},
): Promise<PushState> {
  const device = await loadSigningDevice(deps.db, input.deviceId);
  const state = await pendingFor(deps.db, deps.clock, input.challengeId, device.userId);
  // A denial spends nothing of the login's (only a wrong number does).
  const denied = await applyDecision(
    { ...deps, spendLoginAttempt: async () => {} },
    state,
    device.id,
    'denied',
  );
  await announceDecision(deps, denied, device.id, null, audit);
  return denied;
}

/** Audits a decision, tells the user of a denial or a wrong number, and wakes the waiting login on every node. */
async function announceDecision(
  deps: PushDenialDeps,
  state: PushState,
  deviceId: string,
  ip: string | null,
  audit: Record<string, unknown>,
): Promise<void> {
  const type = DECISION_AUDIT[state.status as keyof typeof DECISION_AUDIT];
  await appendAudit(deps.db, deps.clock, {
    type,
    userId: state.userId,
    ip,
    data: { challengeId: state.id, deviceId, ...audit },
  });
  if (state.status === 'denied') await deps.notifier.notify(state.userId, 'push_denied', { deviceId });
  if (state.status === 'wrong_number') {
    const { channel, ip: loginIp, network, time } = state.context;
    await deps.notifier.notify(state.userId, 'push_wrong_number', {
      deviceId,
      channel,
      ip: loginIp,
      network,
      time,
    });
  }
  await deps.bus.publish('push.updated', {
    challengeId: state.id,
    ...(state.loginId === null ? {} : { loginId: state.loginId }),
  });
}

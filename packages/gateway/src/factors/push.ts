/**
 * @module factors/push
 * Push approval from an enrolled mobile device (the IB Key analogue). A login that chooses push creates a challenge
 * carrying what the person needs to decide (channel, device, address, network, time) and a 2-digit number that the
 * login screen shows; the phone shows the same number and the person approves only if they match. The device
 * signs `{challengeId, decision, number}` with its enrolled P-256 key; the server verifies the signature, the
 * number and that the challenge belongs to the device's user. Delivery goes through a `PushTransport`, and a
 * delivery receipt from the device is recorded so that a login screen can offer fallback factors when none comes.
 */
import { randomInt } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Clock, GatehouseError, newId } from '../core/index.js';
import { decisionMessage, loadSigningDevice, verifyDeviceSignature } from '../devices/index.js';
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
  number: string;
  context: PushContext;
  expiresAt: string;
}

/** Delivers push messages to a user's enrolled devices (the default sends them over each device's stream). */
export interface PushTransport {
  deliver(deviceIds: readonly string[], message: PushMessage): Promise<void>;
}

export type PushStatus = 'pending' | 'approved' | 'denied' | 'expired';

export interface PushState {
  id: string;
  userId: string;
  loginId: string | null;
  number: string;
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
  const row: PushChallengesTable = {
    id: newId('psh'),
    user_id: input.userId,
    login_id: input.loginId,
    number: String(randomInt(10, 100)),
    context: JSON.stringify(input.context),
    status: 'pending',
    created_at: now,
    expires_at: now + input.ttlMs,
    delivered_at: null,
    decided_at: null,
    device_id: null,
  };
  await db.insertInto('push_challenges').values(row).execute();
  return {
    type: 'push',
    challengeId: row.id,
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

/** The newest challenge of a login transaction. */
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
 * number. The state change is one conditional UPDATE, so two devices racing cannot both decide.
 */
export async function decidePush(
  db: Kysely<Database>,
  clock: Clock,
  input: PushDecision,
): Promise<PushState> {
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
  if (input.decision === 'approve' && input.number !== state.number) throw new GatehouseError('WRONG_NUMBER');
  const status: PushStatus = input.decision === 'approve' ? 'approved' : 'denied';
  const now = clock.now();
  const result = await db
    .updateTable('push_challenges')
    .set({ status, decided_at: now, device_id: device.id, delivered_at: state.deliveredAt ?? now })
    .where('id', '=', input.challengeId)
    .where('status', '=', 'pending')
    .where('expires_at', '>', now)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new GatehouseError('PUSH_CHALLENGE_INVALID');
  await db.updateTable('devices').set({ last_seen_at: now }).where('id', '=', device.id).execute();
  return { ...state, status, deliveredAt: state.deliveredAt ?? now };
}

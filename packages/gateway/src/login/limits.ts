/**
 * @module login/limits
 * Which failure buckets (`login/throttle`) an attempt to prove a secret draws on, so that a stranger cannot keep
 * the owner out while guessing stays bounded:
 *
 * - A **known device** — a browser whose signed device cookie names an active browser of this user (it completed
 *   a login), a workstation whose device key signed the login, the device a session is bound to — has a bucket of
 *   its own, `device <id>`. Only its holder can fill it, and it is limited like any other.
 * - An **unknown device** draws on `network <network> <username>` (IPv4 /24, IPv6 /48: failures from elsewhere do
 *   not slow the owner down on theirs) and on the account-wide `account <username>`, which lets more failures go
 *   free but counts those from every network: guessing spread over many networks still backs off, and stops at
 *   `maxConsecutiveFailures` (NIST SP 800-63B caps consecutive failures per account at 100: §3.2.2 of rev. 4).
 *   Known devices never draw on it, so it never holds one (NIST lists accepting attempts from where the subscriber
 *   authenticated before as a way to keep rate limiting from locking the subscriber out).
 *
 * Buckets are keyed by the normalised username whether or not such a user exists, so unknown names behave like
 * real ones; a device cookie of another user (or of nobody) is simply not a known device.
 */
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.js';
import { hmacSha256, type KeySource } from '../core/index.js';
import { networkOf, parseDeviceCookie } from '../devices/index.js';
import type { Database } from '../store/index.js';
import type { BackoffPolicy, Bucket } from './throttle.js';

export interface ThrottlePolicies {
  /** The bucket of one device, or of one network for unknown devices. */
  client: BackoffPolicy;
  /** The account-wide bucket of unknown devices. */
  account: BackoffPolicy;
  /**
   * Keys the username in bucket names: the table keeps a short HMAC of the name typed, never the name itself (a
   * password typed into the username field must not be stored), and one name still maps to one bucket.
   */
  nameKey: Buffer;
}

/** The policies from the `login` settings, with the key that names buckets. */
export function throttlePolicies(login: Config['login'], nameKey: Buffer): ThrottlePolicies {
  const shared = {
    baseDelayMs: login.backoffBaseMs,
    maxDelayMs: login.backoffMaxMs,
    failureResetMs: login.failureResetMs,
    maxFailures: login.maxConsecutiveFailures,
  };
  return {
    client: { ...shared, freeFailures: login.backoffFreeFailures },
    account: { ...shared, freeFailures: login.accountBackoffFreeFailures },
    nameKey,
  };
}

/** Who makes an attempt, as far as the limits are concerned. */
export type Attempter = { kind: 'device'; deviceId: string } | { kind: 'network'; network: string };

export function networkAttempter(ip: string): Attempter {
  return { kind: 'network', network: networkOf(ip) ?? ip };
}

/** The buckets an attempt claims before its secret is checked. */
export function attemptBuckets(policies: ThrottlePolicies, username: string, attempter: Attempter): Bucket[] {
  if (attempter.kind === 'device')
    return [{ subject: `device ${attempter.deviceId}`, policy: policies.client }];
  const name = nameOf(policies, username);
  return [
    { subject: `network ${attempter.network} ${name}`, policy: policies.client },
    { subject: `account ${name}`, policy: policies.account },
  ];
}

/** A username as bucket names carry it: 96 bits of its HMAC. */
function nameOf(policies: ThrottlePolicies, username: string): string {
  return hmacSha256(policies.nameKey, username).slice(0, 16);
}

/**
 * The buckets a success forgets: the attempter's own and the account-wide one (a success ends the consecutive
 * failures of the account, NIST 800-63B §3.2.2). Other networks' and devices' buckets stay as they are.
 */
export function successBuckets(policies: ThrottlePolicies, username: string, attempter: Attempter): Bucket[] {
  const own = attemptBuckets(policies, username, attempter)[0] as Bucket;
  return [own, { subject: `account ${nameOf(policies, username)}`, policy: policies.account }];
}

/**
 * The browser's device id if its device cookie is valid and names an active browser of `userId`; null otherwise
 * (also for an unknown user, after the same lookup, and for a revoked browser: at the limits it is just unknown).
 */
export async function knownBrowserId(
  db: Kysely<Database>,
  deviceKey: KeySource,
  userId: string | null,
  cookie: string | undefined,
): Promise<string | null> {
  const deviceId = parseDeviceCookie(deviceKey, cookie);
  if (deviceId === null) return null;
  const row = await db
    .selectFrom('devices')
    .select('id')
    .where('id', '=', deviceId)
    .where('user_id', '=', userId ?? '')
    .where('kind', '=', 'browser')
    .where('status', '=', 'active')
    .executeTakeFirst();
  return row === undefined ? null : row.id;
}

/**
 * The attempter of a login step: the device whose key signed it (when it is the user's), else the browser whose
 * cookie it carries (when it is the user's), else its network.
 */
export async function identifyAttempter(
  db: Kysely<Database>,
  deviceKey: KeySource,
  input: {
    userId: string | null;
    ip: string;
    deviceCookie?: string;
    signedBy?: { id: string; userId: string };
  },
): Promise<Attempter> {
  const { userId, signedBy } = input;
  if (signedBy !== undefined && userId !== null && signedBy.userId === userId)
    return { kind: 'device', deviceId: signedBy.id };
  const browser = await knownBrowserId(db, deviceKey, userId, input.deviceCookie);
  return browser === null ? networkAttempter(input.ip) : { kind: 'device', deviceId: browser };
}

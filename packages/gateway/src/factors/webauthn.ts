/**
 * @module factors/webauthn
 * Security keys and passkeys with @simplewebauthn/server: registration from a recent-AAL2 session, and
 * authentication as a second factor at login. Challenges (256 bits) are stored and usable once; the signature
 * counter must move forward (a cloned authenticator shows up as a counter that does not). A credential bound to
 * one authenticator (not backup-eligible) gives AAL3; a synced passkey gives AAL2.
 *
 * The failure sandbox's `webauthn.missing` (the security key is not there) acts on the server's side of a login's
 * ceremony: a missing key never answers, so the browser's `navigator.credentials.get()` runs out its timer and
 * rejects with `NotAllowedError` (W3C WebAuthn Level 3, §5.1.4.1), and the server sees its challenge lapse unused.
 * The options are still issued (the browser asks for the key), but their challenge is stored already expired, so no
 * assertion can answer it: one that arrives anyway (a stand-in authenticator, a stale page) is refused as for any
 * expired challenge, and the login may go on with another of its factors. The fault is drawn when the options are
 * issued, so a key pulled out after the browser asked for it is not this fault.
 */
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type { Kysely } from 'kysely';
import { type Clock, type FaultProbe, GatehouseError, newId, noFaults } from '../core/index.js';
import type { Database } from '../store/index.js';
import { insertFactor } from './registry.js';

export interface WebauthnConfig {
  rpId: string;
  rpName: string;
  origins: string[];
  challengeTtlMs: number;
}

export type CeremonyPurpose = 'register' | 'login' | 'step_up';

async function storeChallenge(
  db: Kysely<Database>,
  clock: Clock,
  input: {
    userId: string;
    purpose: CeremonyPurpose;
    challenge: string;
    loginId: string | null;
    ttlMs: number;
  },
): Promise<void> {
  const now = clock.now();
  await db
    .insertInto('webauthn_challenges')
    .values({
      id: newId('wac'),
      user_id: input.userId,
      purpose: input.purpose,
      challenge: input.challenge,
      login_id: input.loginId,
      created_at: now,
      expires_at: now + input.ttlMs,
      used_at: null,
    })
    .execute();
}

/** Consumes the challenge a response claims to answer; it must be this user's, for this purpose, unexpired, unused. */
async function consumeChallenge(
  db: Kysely<Database>,
  clock: Clock,
  userId: string,
  purpose: CeremonyPurpose,
  clientDataJSON: string,
): Promise<string> {
  let challenge: unknown;
  try {
    challenge = (
      JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }
    ).challenge;
  } catch {
    throw new GatehouseError('INVALID_CREDENTIALS');
  }
  if (typeof challenge !== 'string') throw new GatehouseError('INVALID_CREDENTIALS');
  const now = clock.now();
  const result = await db
    .updateTable('webauthn_challenges')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('challenge', '=', challenge)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new GatehouseError('INVALID_CREDENTIALS');
  return challenge;
}

async function userCredentials(db: Kysely<Database>, userId: string) {
  return db
    .selectFrom('second_factors')
    .select(['id', 'credential_id', 'public_key', 'sign_count', 'transports', 'hardware_bound'])
    .where('user_id', '=', userId)
    .where('type', '=', 'webauthn')
    .where('status', '=', 'active')
    .execute();
}

type Transports = NonNullable<RegistrationResponseJSON['response']['transports']>;

/** Credential descriptors (id and transports) for the browser's allow/exclude lists. */
function descriptors(credentials: readonly { credential_id: string | null; transports: string | null }[]) {
  return credentials.map((c) => ({
    id: c.credential_id as string,
    transports: JSON.parse(c.transports ?? '[]') as Transports,
  }));
}

export async function registrationOptions(
  db: Kysely<Database>,
  clock: Clock,
  config: WebauthnConfig,
  user: { id: string; username: string; displayName: string },
) {
  const existing = await userCredentials(db, user.id);
  const options = await generateRegistrationOptions({
    rpName: config.rpName,
    rpID: config.rpId,
    userName: user.username,
    userDisplayName: user.displayName,
    userID: new TextEncoder().encode(user.id),
    attestationType: 'none',
    excludeCredentials: descriptors(existing),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
  });
  await storeChallenge(db, clock, {
    userId: user.id,
    purpose: 'register',
    challenge: options.challenge,
    loginId: null,
    ttlMs: config.challengeTtlMs,
  });
  return options;
}

/** Verifies a registration response and stores the credential; returns the new factor. */
export async function registerCredential(
  db: Kysely<Database>,
  clock: Clock,
  config: WebauthnConfig,
  userId: string,
  response: RegistrationResponseJSON,
  label: string,
): Promise<{ factorId: string; hardwareBound: boolean }> {
  const challenge = await consumeChallenge(db, clock, userId, 'register', response.response.clientDataJSON);
  let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verification = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: config.origins,
      expectedRPID: config.rpId,
      requireUserVerification: false,
    });
  } catch {
    throw new GatehouseError('INVALID_CREDENTIALS');
  }
  if (!verification.verified) throw new GatehouseError('INVALID_CREDENTIALS');
  const info = verification.registrationInfo;
  const hardwareBound = info.credentialDeviceType === 'singleDevice';
  const factorId = newId('fac');
  await insertFactor(db, clock, {
    id: factorId,
    user_id: userId,
    type: 'webauthn',
    label,
    status: 'active',
    credential_id: info.credential.id,
    public_key: Buffer.from(info.credential.publicKey).toString('base64url'),
    sign_count: info.credential.counter,
    transports: JSON.stringify(info.credential.transports ?? []),
    hardware_bound: hardwareBound ? 1 : 0,
  });
  return { factorId, hardwareBound };
}

export async function authenticationOptions(
  db: Kysely<Database>,
  clock: Clock,
  config: WebauthnConfig,
  userId: string,
  purpose: 'login' | 'step_up',
  loginId: string | null,
  faults: FaultProbe = noFaults,
) {
  const credentials = await userCredentials(db, userId);
  if (credentials.length === 0) throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  const options = await generateAuthenticationOptions({
    rpID: config.rpId,
    allowCredentials: descriptors(credentials),
    userVerification: 'preferred',
  });
  // The key is not there (the sandbox's `webauthn.missing`): nothing can answer this challenge in time.
  const keyMissing = faults.armed && faults.take('webauthn.missing', { userId }) !== undefined;
  await storeChallenge(db, clock, {
    userId,
    purpose,
    challenge: options.challenge,
    loginId,
    ttlMs: keyMissing ? 0 : config.challengeTtlMs,
  });
  return options;
}

export interface WebauthnCheck {
  factorId: string;
  aal: number;
  amr: 'hwk' | 'swk';
}

/** Verifies an assertion for one of the user's credentials; advances its signature counter. */
export async function verifyAssertion(
  db: Kysely<Database>,
  clock: Clock,
  config: WebauthnConfig,
  userId: string,
  purpose: 'login' | 'step_up',
  response: AuthenticationResponseJSON,
): Promise<WebauthnCheck> {
  const credential = (await userCredentials(db, userId)).find((c) => c.credential_id === response.id);
  if (credential === undefined || credential.public_key === null)
    throw new GatehouseError('INVALID_CREDENTIALS');
  const challenge = await consumeChallenge(db, clock, userId, purpose, response.response.clientDataJSON);
  let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    verification = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: config.origins,
      expectedRPID: config.rpId,
      requireUserVerification: false,
      credential: {
        id: credential.credential_id as string,
        publicKey: new Uint8Array(Buffer.from(credential.public_key, 'base64url')),
        counter: credential.sign_count ?? 0,
        transports: JSON.parse(credential.transports ?? '[]') as Transports,
      },
    });
  } catch {
    throw new GatehouseError('INVALID_CREDENTIALS');
  }
  if (!verification.verified) throw new GatehouseError('INVALID_CREDENTIALS');
  // Only ever forward: a concurrent use with the same counter loses here.
  const advanced = await db
    .updateTable('second_factors')
    .set({ sign_count: verification.authenticationInfo.newCounter, last_used_at: clock.now() })
    .where('id', '=', credential.id)
    .where((eb) =>
      eb.or([eb('sign_count', '<', verification.authenticationInfo.newCounter), eb('sign_count', '=', 0)]),
    )
    .executeTakeFirst();
  if (advanced.numUpdatedRows === 0n) throw new GatehouseError('INVALID_CREDENTIALS');
  const hardware = credential.hardware_bound === 1;
  return { factorId: credential.id, aal: hardware ? 3 : 2, amr: hardware ? 'hwk' : 'swk' };
}

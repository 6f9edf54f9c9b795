/**
 * @module oauth/client-auth
 * Client keys and `private_key_jwt` (RFC 7523, as FAPI 2.0 requires):
 * - a client registers public JWKs only, of the algorithms FAPI 2.0 allows (PS256 with RSA ≥ 2048 bits, ES256 on
 *   P-256, EdDSA on Ed25519);
 * - its assertion is a JWT signed by one of them with `iss` = `sub` = the client id, `aud` = the issuer identifier
 *   and nothing else, `exp` at most 5 minutes ahead, `iat` at most 60 s old, and a `jti` used once (remembered
 *   until the assertion expires, in the database, so every node refuses a replay);
 * - a form endpoint's caller is the live (not revoked) client whose assertion verifies.
 */
import { createLocalJWKSet, decodeJwt, type JWK, errors as joseErrors, jwtVerify } from 'jose';
import type { Kysely } from 'kysely';
import type { Database, OAuthClientsTable } from '../store/index.js';
import type { OAuthContext, OAuthForm } from './context.js';
import { importPublicJwk, type Jwk } from './dpop.js';
import { OAuthError } from './errors.js';
import { assertionSpent, findLiveClient, json, recordAssertion } from './store.js';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const SIGNING_ALGORITHMS = ['PS256', 'ES256', 'EdDSA'] as const;
const MAX_ASSERTION_LIFETIME_S = 300;
const MAX_ASSERTION_AGE_S = 60;

/** The algorithm a registered key is for: its `alg`, or the one its type implies. */
function algorithmOf(jwk: Jwk): string {
  if (typeof jwk.alg === 'string') return jwk.alg;
  if (jwk.kty === 'EC') return 'ES256';
  if (jwk.kty === 'RSA') return 'PS256';
  return 'EdDSA';
}

/**
 * Checks keys offered for registration; returns the JWK Set to store (public members only). Throws
 * `INVALID_REQUEST`-style messages as OAuth `invalid_request`.
 */
export function validateClientKeys(keys: readonly unknown[]): { keys: JWK[] } {
  if (keys.length === 0 || keys.length > 5)
    throw new OAuthError('invalid_request', 'one to five public keys');
  const out: JWK[] = [];
  for (const raw of keys) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new OAuthError('invalid_request', 'each key must be a JWK object');
    const jwk = raw as Jwk;
    const alg = algorithmOf(jwk);
    if (!(SIGNING_ALGORITHMS as readonly string[]).includes(alg))
      throw new OAuthError('invalid_request', 'keys must be for PS256, ES256 or EdDSA');
    try {
      importPublicJwk(jwk, alg);
    } catch (error) {
      throw new OAuthError('invalid_request', (error as Error).message);
    }
    const { kty, crv, x, y, n, e, kid } = jwk;
    out.push(
      Object.fromEntries(
        Object.entries({ kty, crv, x, y, n, e, kid, alg, use: 'sig' }).filter(([, v]) => v !== undefined),
      ) as JWK,
    );
  }
  return { keys: out };
}

/** A time for a description: ISO 8601, to the second. */
const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/**
 * Which check a client assertion failed, for `error_description`: from the assertion's claims and the server's own
 * facts (the issuer, its time), never from the client's keys.
 */
function assertionRefusal(error: unknown, ctx: AssertionContext): string {
  const now = `the server's time is ${iso(ctx.now)}`;
  if (error instanceof joseErrors.JWTExpired)
    return error.claim === 'iat'
      ? `the assertion's iat is more than ${MAX_ASSERTION_AGE_S} s old (${now}); sign a fresh assertion for each request`
      : `the assertion expired (${now})`;
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const { claim, reason } = error;
    if (reason === 'missing') return `the assertion lacks the ${claim} claim`;
    if (reason === 'invalid') return `the assertion's ${claim} must be a number of seconds since the epoch`;
    if (claim === 'aud') return `the assertion's aud must be ${JSON.stringify(ctx.issuer)}`;
    if (claim === 'sub' || claim === 'iss')
      return `the assertion's ${claim} must be the client id, as its iss is`;
    if (claim === 'iat' || claim === 'nbf') return `the assertion's ${claim} is in the future (${now})`;
    return `the assertion's ${claim} is not accepted`;
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed)
    return 'the assertion must be signed with PS256, ES256 or EdDSA';
  // No key fitting the alg (and kid), several fitting, or a signature that does not verify read the same: an
  // unauthenticated caller learns nothing of the client's registered keys (their algorithms, their kids).
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid)
    return 'the client assertion is not a well-formed signed JWT';
  return "the assertion's signature does not verify with a key registered for this client (with several keys of one algorithm, name the key with kid)";
}

export interface AssertionContext {
  db: Kysely<Database>;
  issuer: string;
  now: number;
}

/**
 * Verifies a client assertion; returns the client id it authenticates. Every failure is `invalid_client` (RFC 6749
 * §5.2), with a description that names the check. The assertion's `jti` is spent; with `spend: false` it is only
 * checked unspent (the failure sandbox asking whose a request is, before the endpoint handles it).
 */
export async function verifyClientAssertion(
  ctx: AssertionContext,
  form: Record<string, string | undefined>,
  loadJwks: (clientId: string) => Promise<{ keys: JWK[] } | undefined>,
  options: { spend?: boolean } = {},
): Promise<string> {
  if (form.client_assertion_type !== CLIENT_ASSERTION_TYPE || form.client_assertion === undefined)
    throw new OAuthError(
      'invalid_client',
      `authenticate with private_key_jwt: client_assertion_type ${CLIENT_ASSERTION_TYPE} and a client_assertion`,
    );
  const assertion = form.client_assertion;
  let unverified: ReturnType<typeof decodeJwt>;
  try {
    unverified = decodeJwt(assertion);
  } catch {
    throw new OAuthError('invalid_client', 'the client assertion is not a JWT');
  }
  const clientId = typeof unverified.iss === 'string' ? unverified.iss : undefined;
  if (clientId === undefined)
    throw new OAuthError('invalid_client', "the assertion's iss (and sub) must be the client id");
  if (form.client_id !== undefined && form.client_id !== clientId)
    throw new OAuthError('invalid_client', "client_id is not the assertion's iss");
  const jwks = await loadJwks(clientId);
  if (jwks === undefined)
    throw new OAuthError('invalid_client', "the client the assertion's iss names is unknown or revoked");
  let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
  try {
    ({ payload } = await jwtVerify(assertion, createLocalJWKSet(jwks), {
      algorithms: [...SIGNING_ALGORITHMS],
      issuer: clientId,
      subject: clientId,
      audience: ctx.issuer,
      currentDate: new Date(ctx.now),
      clockTolerance: 10,
      maxTokenAge: MAX_ASSERTION_AGE_S,
      requiredClaims: ['exp', 'iat', 'jti'],
    }));
  } catch (error) {
    throw new OAuthError('invalid_client', assertionRefusal(error, ctx));
  }
  // FAPI 2.0: the issuer identifier is the only audience accepted.
  if (Array.isArray(payload.aud) && payload.aud.length !== 1)
    throw new OAuthError('invalid_client', `the assertion's aud must be ${JSON.stringify(ctx.issuer)} alone`);
  const exp = payload.exp as number;
  if (exp - ctx.now / 1000 > MAX_ASSERTION_LIFETIME_S)
    throw new OAuthError(
      'invalid_client',
      `the assertion may live at most 5 minutes: its exp is ${Math.round(exp - ctx.now / 1000)} s after the ` +
        `server's time (${iso(ctx.now)})`,
    );
  if (typeof payload.jti !== 'string' || payload.jti === '')
    throw new OAuthError('invalid_client', "the assertion's jti must be a non-empty string");
  const jti = payload.jti;
  if (jti.length > 256)
    throw new OAuthError('invalid_client', "the assertion's jti is longer than 256 characters");
  const fresh =
    options.spend === false
      ? !(await assertionSpent(ctx.db, clientId, jti))
      : await recordAssertion(ctx.db, clientId, jti, exp * 1000);
  if (!fresh)
    throw new OAuthError(
      'invalid_client',
      "the assertion's jti was used before; sign each assertion with a new jti",
    );
  return clientId;
}

/**
 * The live client a form endpoint's request authenticates as (`private_key_jwt`, checked against the client's
 * registered keys). Every failure is `invalid_client`.
 */
export async function authenticateClient(
  ctx: OAuthContext,
  form: OAuthForm,
  issuer: string,
): Promise<OAuthClientsTable> {
  let client: OAuthClientsTable | undefined;
  await verifyClientAssertion({ db: ctx.db, issuer, now: ctx.clock.now() }, form, async (clientId) => {
    client = await findLiveClient(ctx.db, clientId);
    return client === undefined ? undefined : json<{ keys: JWK[] }>(client.jwks);
  });
  return client as unknown as OAuthClientsTable;
}

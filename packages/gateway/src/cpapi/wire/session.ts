/**
 * @module cpapi/wire/session
 * The session endpoints' bodies and answers: tickle, iserver/auth/status, iserver/auth/ssodh/init,
 * iserver/reauthenticate, sso/validate and logout (sources: see ./common.ts).
 */
import { z } from 'zod';
import { authStatusSchema } from './common.js';

/**
 * `POST|GET /tickle` (campus "Ping the server"; ibind `tickle`). `ssoExpires` is milliseconds until the SSO session
 * expires; `collission` is spelled as IBKR spells it; `hmds` carries `{"error":"no bridge"}` when the market-data
 * farm has no bridge, as in both the campus example and the real capture.
 */
export const tickleResponseSchema = z.looseObject({
  session: z.string(),
  ssoExpires: z.number().int(),
  collission: z.boolean(),
  userId: z.number().int(),
  hmds: z.looseObject({ error: z.string().optional() }),
  iserver: z.looseObject({ authStatus: authStatusSchema }),
});
export type TickleResponse = z.infer<typeof tickleResponseSchema>;

/** `POST|GET /iserver/auth/status` answers the brokerage session's status alone (campus "Authentication Status"). */
export const authStatusResponseSchema = authStatusSchema;
export type AuthStatusResponse = z.infer<typeof authStatusResponseSchema>;

/**
 * `POST /iserver/auth/ssodh/init` body (campus "Initialize Brokerage Session"): `publish` must be true, "otherwise
 * a '500' response"; `compete: true` disconnects the user's other brokerage sessions.
 */
export const ssodhInitBodySchema = z.looseObject({
  publish: z.boolean(),
  compete: z.boolean(),
});
export type SsodhInitBody = z.infer<typeof ssodhInitBodySchema>;

/** Its answer has the auth-status shape; IBKR's samples add `established` (research §2, support.pitrade.com). */
export const ssodhInitResponseSchema = authStatusSchema.extend({ established: z.boolean().optional() });
export type SsodhInitResponse = z.infer<typeof ssodhInitResponseSchema>;

/** `POST /iserver/reauthenticate` (deprecated, asynchronous): `{"message":"triggered"}` (campus "Re-authenticate"). */
export const reauthenticateResponseSchema = z.looseObject({ message: z.string() });
export type ReauthenticateResponse = z.infer<typeof reauthenticateResponseSchema>;

/**
 * `GET /sso/validate` (campus "Validate SSO"). `EXPIRES` is milliseconds left; `LOGIN_TYPE` is 1 live, 2 paper;
 * `lastAccessed` and `AUTH_TIME` are epoch milliseconds. IBeam reads `RESULT` (research §2).
 */
export const ssoValidateResponseSchema = z.looseObject({
  USER_ID: z.number().int(),
  USER_NAME: z.string(),
  RESULT: z.boolean(),
  AUTH_TIME: z.number().int(),
  SF_ENABLED: z.boolean(),
  IS_FREE_TRIAL: z.boolean(),
  CREDENTIAL: z.string(),
  IP: z.string(),
  EXPIRES: z.number().int(),
  QUALIFIED_FOR_MOBILE_AUTH: z.boolean().nullable(),
  LANDING_APP: z.string(),
  IS_MASTER: z.boolean(),
  lastAccessed: z.number().int(),
  LOGIN_TYPE: z.number().int(),
  PAPER_USER_NAME: z.string().optional(),
  features: z.record(z.string(), z.union([z.boolean(), z.string()])),
  region: z.string(),
});
export type SsoValidateResponse = z.infer<typeof ssoValidateResponseSchema>;

/**
 * `POST /logout`: `{"status":true}` (campus "Logout"). IBeam compares the raw body with the compact text
 * `{"status":true}` (research §2), so the face must serialise it without spaces: `LOGOUT_BODY`.
 */
export const logoutResponseSchema = z.looseObject({ status: z.boolean() });
export type LogoutResponse = z.infer<typeof logoutResponseSchema>;
export const LOGOUT_BODY = '{"status":true}';

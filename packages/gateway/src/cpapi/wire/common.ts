/**
 * @module cpapi/wire/common
 * Pieces shared by the CPAPI face's wire shapes: IBKR's error body, its server info and the scalar conventions
 * (a conid is a JSON number in most answers, a string in a few, and says so where it is used).
 *
 * Response objects are loose (`z.looseObject`): IBKR adds fields between builds, and a bot written against a newer
 * build must not be refused by a schema that names only the fields we serve. Request bodies are loose too, since
 * IBKR ignores the keys it does not know.
 *
 * Sources, cited by short name in every wire module:
 * - "campus": IBKR's Web API v1.0 documentation (interactivebrokers.com/campus/ibkr-api-page/cpapi-v1), the section
 *   named after the endpoint.
 * - "openapi": IBKR's published OpenAPI document "IB REST API", version 2.15.0 (api@interactivebrokers.com).
 * - "ibind": the anonymised real captures in Voyz/ibind v0.1.24 `test/integration/client/ibkr_responses.py`.
 * - "research": ../shared/research/ibkr-cpapi.md, which cites its own evidence per fact.
 */
import { z } from 'zod';

/** IBKR's contract id. A JSON number wherever IBKR answers with a number (campus; ibind `positions`, `live_orders`). */
export const conidSchema = z.number().int().positive();

/**
 * IBKR's error body: `{"error":"…"}`, sometimes with `statusCode` (research §1: `no bridge` carries `statusCode:400`,
 * `reply id not found` does not; ibind issues 44, 35, 122).
 */
export const errorBodySchema = z.looseObject({
  error: z.string(),
  statusCode: z.number().int().optional(),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** The error texts the face reuses verbatim, as IBKR writes them (research §1). */
export const IBKR_ERROR_TEXTS = {
  /** No brokerage session; the client should call `iserver/auth/ssodh/init` (ibind issues 44, 104). */
  noBridge: 'Bad Request: no bridge',
  /** Tickle without a session (ibeam `http_handler.py`). */
  noSession: 'no session',
  /** Reply to an expired or unknown question; IBKR appends `: '<uuid>'` (ibind issues 35, 103). */
  replyIdNotFound: 'reply id not found',
} as const;

/** `serverInfo` as in auth status, tickle and iserver/accounts (campus; ibind `auth_status`). */
export const serverInfoSchema = z.looseObject({
  serverName: z.string(),
  serverVersion: z.string(),
});
export type ServerInfo = z.infer<typeof serverInfoSchema>;

/** The brokerage session's status (campus "Authentication Status"; ibind `auth_status`; openapi `BrokerageSessionStatus`). */
export const authStatusSchema = z.looseObject({
  authenticated: z.boolean(),
  competing: z.boolean(),
  connected: z.boolean(),
  /** Absent in campus's logged-out example `{"authenticated":false,"competing":false,"connected":false,"MAC":…}`. */
  message: z.string().optional(),
  MAC: z.string(),
  serverInfo: serverInfoSchema.optional(),
  /** Present in the real capture (ibind) and campus's auth-status example, as an empty string when nothing failed. */
  fail: z.string().optional(),
  /** `"<hex>|<MAC>"`; added in IBKR's 2023 release notes (research §2). */
  hardware_info: z.string().optional(),
  /** Modelled by some clients (docs.rs `ib` crate); not seen in a capture. */
  prompts: z.array(z.string()).optional(),
});
export type AuthStatus = z.infer<typeof authStatusSchema>;

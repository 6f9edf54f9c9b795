/**
 * @module cpapi/kit
 * What every route of the face shares: IBKR's error body (`{"error":"…","statusCode":…}`), the two gates of a
 * request (a held login; a brokerage session, else IBKR's `no bridge`), Gatehouse errors worded as IBKR errors
 * that still name the Gatehouse code (and the gate's rule id), and the face's parsing of bodies and queries.
 */
import type { z } from 'zod';
import type { GatehouseError } from '../core/index.js';
import type { Principal } from '../sessions/index.js';
import type { HeldLogin } from './holder.js';
import type { OrderNumbers } from './order-numbers.js';
import type { FaceIdentity, HeldSession } from './status.js';
import { IBKR_ERROR_TEXTS } from './wire/index.js';

/** An error the face answers in IBKR's shape. */
export class IbkrError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Whether the body carries `statusCode` (IBKR's `no bridge` does; `reply id not found` does not). */
    readonly withStatusCode = true,
  ) {
    super(message);
  }

  body(): { error: string; statusCode?: number } {
    return this.withStatusCode ? { error: this.message, statusCode: this.status } : { error: this.message };
  }
}

/**
 * A Gatehouse error as IBKR's error body: its message, then the code (and the gate's rule id) in brackets, so a bot
 * that logs IBKR errors logs why Gatehouse refused. The status is the Gatehouse one.
 */
export function ibkrErrorOf(error: GatehouseError): IbkrError {
  const ruleId = typeof error.details?.ruleId === 'string' ? `, rule ${error.details.ruleId}` : '';
  return new IbkrError(error.status, `${error.message} [Gatehouse ${error.code}${ruleId}]`);
}

/** Parses a body or query with a wire schema; a mismatch is IBKR's 400 naming the first bad field. */
export function parseWire<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue === undefined || issue.path.length === 0 ? 'body' : issue.path.join('.');
  throw new IbkrError(400, `Bad Request: ${field}: ${issue?.message ?? 'invalid'}`);
}

/** The state of one listener a route reads: its held login, how it names itself, its order numbers. */
export interface FaceState {
  held: HeldLogin;
  identity: FaceIdentity;
  numbers: OrderNumbers;
}

/** The held session, or IBKR's 401 when there is none (research §1: ibeam `http_handler.py`). */
export async function loggedIn(face: FaceState): Promise<Principal> {
  const { principal } = await face.held.current();
  if (principal === null) throw new IbkrError(401, 'not authenticated');
  return principal;
}

/**
 * The held session with its brokerage tier, as every `/iserver` endpoint needs (campus "Background regarding CP
 * Web API sessions"); without it, IBKR's `no bridge` (research §1; ibind issues 44, 104).
 */
export async function bridged(face: FaceState): Promise<Principal> {
  const { held, principal } = await face.held.current();
  if (principal === null) throw new IbkrError(401, 'not authenticated');
  if (!hasBridge(held)) throw new IbkrError(400, IBKR_ERROR_TEXTS.noBridge);
  return principal;
}

/** Whether a held session has its brokerage session (what IBKR calls `authenticated`). */
export function hasBridge(held: HeldSession): boolean {
  return held.kind === 'live' && held.state.tier === 'brokerage' && !held.state.competing;
}

/**
 * The portal's one way to the gateway: same-origin JSON requests with the session cookie, the CSRF token on every
 * state-changing request, and every failure turned into an `ApiError` carrying the gateway's code and details.
 */
import type { ErrorCode, ErrorDetails, ErrorEnvelope } from '@gatehouse/protocol';

let csrfToken: string | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/**
 * Sends a state-changing request from a page that is closing (`pagehide`), where a `fetch` may be cut off:
 * `navigator.sendBeacon`, which sets no header, so the CSRF token travels in the form body — only the routes that
 * accept it there take it (the brokerage release). False when the browser has no beacon or nothing was sent.
 */
export function beacon(path: string): boolean {
  if (csrfToken === null || typeof navigator.sendBeacon !== 'function') return false;
  return navigator.sendBeacon(path, new URLSearchParams({ csrfToken }));
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'NETWORK',
    message: string,
    readonly details: ErrorDetails = {},
    readonly ruleId?: string,
  ) {
    super(message);
  }
}

/** The session ended underneath the page (revoked, expired): the shell shows the login page with the reason. */
type SessionEndListener = (error: ApiError) => void;
let onSessionEnd: SessionEndListener = () => {};
export function onSessionEnded(listener: SessionEndListener): void {
  onSessionEnd = listener;
}

const SESSION_ENDING: ReadonlySet<string> = new Set(['SESSION_EXPIRED', 'SESSION_REVOKED']);

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The gateway could not be reached. Check the connection and try again.');
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const parsed = text === '' ? {} : (JSON.parse(text) as unknown);
  if (response.status >= 400 && response.status !== 409) throw toApiError(response.status, parsed);
  // 409 is an answer, not a failure, where it carries a confirmation question (order entry).
  if (
    response.status === 409 &&
    !(typeof parsed === 'object' && parsed !== null && 'confirmationId' in parsed)
  )
    throw toApiError(response.status, parsed);
  return parsed as T;
}

function toApiError(status: number, body: unknown): ApiError {
  const envelope = body as Partial<ErrorEnvelope>;
  const error = envelope.error;
  if (error === undefined) return new ApiError(status, 'INTERNAL', `The gateway answered ${status}.`);
  const apiError = new ApiError(status, error.code, error.message, error.details ?? {}, error.ruleId);
  if (SESSION_ENDING.has(error.code)) onSessionEnd(apiError);
  return apiError;
}

/** A wait in whole seconds, from the details a coded error carries. */
function waitSeconds(details: ErrorDetails): number | null {
  const ms = details.retryAfterMs;
  if (typeof ms === 'number') return Math.max(1, Math.ceil(ms / 1000));
  const at = details.retryAt ?? details.resendAvailableAt;
  if (typeof at === 'string') return Math.max(1, Math.ceil((Date.parse(at) - Date.now()) / 1000));
  return null;
}

/**
 * What a person reads for a coded error. The gateway's own message is precise and is kept (a product rule names
 * the instrument and the entity); the portal adds the wait a backoff imposes and what to do next.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError))
    return error instanceof Error ? error.message : 'Something went wrong. Try again.';
  const wait = waitSeconds(error.details);
  switch (error.code) {
    case 'INVALID_CREDENTIALS':
      return 'That is not right. Check the username, password or code and try again.';
    case 'TOO_MANY_ATTEMPTS':
      return `Too many failed attempts. Wait ${wait ?? 'a few'} seconds before trying again.`;
    case 'RATE_LIMITED':
      return `Too many requests from this address. Wait ${wait ?? 'a few'} seconds.`;
    case 'SMS_RESEND_TOO_SOON':
      return `A code was just sent. You can ask for another in ${wait ?? 30} seconds.`;
    case 'SMS_LIMIT_REACHED':
      return 'No more codes can be sent this hour. Use another factor or wait.';
    case 'LOGIN_INVALID':
      return 'This login has expired. Start again.';
    case 'PUSH_EXPIRED':
      return 'The push request expired before it was answered. Use another factor or send it again.';
    case 'PUSH_DENIED':
      return 'The login was denied on your phone. Start again.';
    case 'WRONG_NUMBER':
      return 'Your phone picked another number than the one shown here, so that request was denied. Send a new request and pick the number it shows.';
    case 'BROKERAGE_REQUIRED':
    case 'SESSION_COMPETING':
      return 'This session can view and cancel orders, not place them: another session holds trading. Choose “Trade here” to place orders here.';
    case 'STEP_UP_REQUIRED':
      return 'Confirm it is you: verify a second factor again to continue.';
    default:
      return error.message;
  }
}

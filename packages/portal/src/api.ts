/**
 * The portal's one way to the gateway: same-origin JSON requests with the session cookie, the CSRF token on every
 * state-changing request, and every failure turned into an `ApiError` carrying the gateway's code and details.
 */
import type { ErrorCode, ErrorDetails, ErrorEnvelope } from '@gatehouse/protocol';
import { countryWords } from './format.js';

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

/** What the login page says once a login's codes are all spent: it starts again from the password. */
export const TOO_MANY_WRONG_CODES = 'Too many wrong codes — start again';

/** The login's codes left, when the gateway said (a wrong code at the second step, or none left). */
export function attemptsLeft(error: unknown): number | null {
  if (!(error instanceof ApiError)) return null;
  const left = error.details.attemptsLeft;
  return typeof left === 'number' ? left : null;
}

/** One field's problem as `INVALID_REQUEST` lists it (`details.issues`). */
interface RequestIssue {
  path: string;
  message: string;
}

function requestIssues(error: ApiError): RequestIssue[] {
  const issues = error.details.issues;
  if (!Array.isArray(issues)) return [];
  return issues.filter(
    (i): i is RequestIssue =>
      typeof i === 'object' && i !== null && typeof i.path === 'string' && typeof i.message === 'string',
  );
}

/** The gateway's words for a field's problem, as a person reads them beside the field (`Choose at least one account`). */
function sentence(message: string): string {
  if (message === 'required') return 'Fill this in.';
  return message.charAt(0).toUpperCase() + message.slice(1);
}

/**
 * The field-level messages of a validation failure (`INVALID_REQUEST`): the top-level field each problem is about
 * (`accounts`, `keys`), mapped to what a person reads beside it. Empty for any other error.
 */
export function fieldErrors(error: unknown): Record<string, string> {
  if (!(error instanceof ApiError) || error.code !== 'INVALID_REQUEST') return {};
  const fields: Record<string, string> = {};
  for (const issue of requestIssues(error)) {
    const field = issue.path.split('.')[0] ?? '';
    if (field !== '' && fields[field] === undefined) fields[field] = sentence(issue.message);
  }
  return fields;
}

/** Why a travel notice was refused, in words (`TRAVEL_NOTICE_INVALID`'s `details.reason`). */
function travelNoticeWords(details: ErrorDetails): string | null {
  switch (details.reason) {
    case 'unknown_country':
      return 'Choose a country from the list.';
    case 'ended':
      return 'That trip is already over: its last day is before today.';
    case 'reversed':
      return 'The last day is before the first day.';
    case 'too_long':
      return typeof details.maxDays === 'number'
        ? `A trip can last at most ${details.maxDays} days.`
        : 'That trip is longer than allowed.';
    case 'too_far':
      return typeof details.maxDays === 'number'
        ? `A trip can be announced at most ${details.maxDays} days ahead.`
        : 'That trip starts too far ahead.';
    default:
      return null;
  }
}

/**
 * What a person reads for a coded error. The gateway's own message is precise and is kept (a product rule names
 * the instrument and the entity); the portal adds the wait a backoff imposes and what to do next.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError))
    return error instanceof Error ? error.message : 'Something went wrong. Try again.';
  const wait = waitSeconds(error.details);
  const left = attemptsLeft(error);
  switch (error.code) {
    case 'INVALID_CREDENTIALS':
      // At the second step the password was accepted: only the code can be wrong.
      if (left !== null)
        return left === 0 ? TOO_MANY_WRONG_CODES : `Wrong code, ${left} ${left === 1 ? 'try' : 'tries'} left`;
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
      return left === 0 ? TOO_MANY_WRONG_CODES : 'This login has expired. Start again.';
    case 'PUSH_EXPIRED':
      return 'The push request expired before it was answered. Use another factor or send it again.';
    case 'PUSH_DENIED':
      return 'The request was denied on your phone. No further push is sent for this login; use another factor.';
    case 'WRONG_NUMBER':
      return 'Wrong number — this request was cancelled. Send another push and pick the number it shows.';
    case 'BROKERAGE_REQUIRED':
    case 'SESSION_COMPETING':
      return 'This session can view and cancel orders, not place them: another session holds trading. Choose “Trade here” to place orders here.';
    case 'STEP_UP_REQUIRED':
      if (error.details?.reason === 'new_country')
        return `This session was signed in from ${countryWords(error.details.country)}, where you have not signed in before. Confirm it is you: verify a second factor again to continue.`;
      return 'Confirm it is you: verify a second factor again to continue.';
    case 'TRAVEL_NOTICE_INVALID':
      return travelNoticeWords(error.details) ?? error.message;
    case 'INVALID_REQUEST': {
      // Field by field, in the gateway's words (never the generic "missing, unknown or wrongly typed fields").
      const issues = requestIssues(error);
      if (issues.length === 0) return error.message;
      return issues
        .map((i) => (i.path === '' ? sentence(i.message) : `${i.path}: ${sentence(i.message)}`))
        .join('; ');
    }
    default:
      return error.message;
  }
}

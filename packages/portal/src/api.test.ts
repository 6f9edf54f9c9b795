/** What a person reads for each coded error the login and trading pages meet. */
import { describe, expect, it } from 'vitest';
import { ApiError, describeError, fieldErrors } from './api.js';
import { duration } from './format.js';

describe('describeError', () => {
  it('says which country a new-country step-up is for, and keeps the plain words for other step-ups', () => {
    expect(
      describeError(new ApiError(403, 'STEP_UP_REQUIRED', 'x', { reason: 'new_country', country: 'DE' })),
    ).toBe(
      'This session was signed in from Germany, where you have not signed in before. Confirm it is you: verify a second factor again to continue.',
    );
    expect(describeError(new ApiError(403, 'STEP_UP_REQUIRED', 'x', { reason: 'network_changed' }))).toBe(
      'Confirm it is you: verify a second factor again to continue.',
    );
  });

  it('says why a travel notice was refused', () => {
    const refusal = (details: Record<string, unknown>) =>
      describeError(new ApiError(400, 'TRAVEL_NOTICE_INVALID', 'gateway words', details));
    expect(refusal({ reason: 'reversed' })).toBe('The last day is before the first day.');
    expect(refusal({ reason: 'ended' })).toBe('That trip is already over: its last day is before today.');
    expect(refusal({ reason: 'too_long', maxDays: 365 })).toBe('A trip can last at most 365 days.');
    expect(refusal({ reason: 'unknown_country' })).toBe('Choose a country from the list.');
    expect(refusal({})).toBe('gateway words');
  });

  it('gives the wait of a backoff in seconds, rounded up', () => {
    expect(describeError(new ApiError(429, 'TOO_MANY_ATTEMPTS', 'x', { retryAfterMs: 4_200 }))).toBe(
      'Too many failed attempts. Wait 5 seconds before trying again.',
    );
    expect(describeError(new ApiError(429, 'RATE_LIMITED', 'x', { retryAfterMs: 60_000 }))).toBe(
      'Too many requests from this address. Wait 60 seconds.',
    );
    expect(describeError(new ApiError(429, 'SMS_RESEND_TOO_SOON', 'x', { retryAfterMs: 12_000 }))).toBe(
      'A code was just sent. You can ask for another in 12 seconds.',
    );
  });

  it('says what to do for a wrong code, an expired login or push, and a needed step-up', () => {
    expect(describeError(new ApiError(401, 'INVALID_CREDENTIALS', 'x'))).toBe(
      'That is not right. Check the username, password or code and try again.',
    );
    expect(describeError(new ApiError(401, 'LOGIN_INVALID', 'x'))).toBe(
      'This login has expired. Start again.',
    );
    expect(describeError(new ApiError(401, 'PUSH_EXPIRED', 'x'))).toMatch(/^The push request expired/);
    expect(describeError(new ApiError(401, 'WRONG_NUMBER', 'x'))).toMatch(
      /^Wrong number — this request was cancelled\. Send another push/,
    );
    expect(describeError(new ApiError(403, 'STEP_UP_REQUIRED', 'x'))).toBe(
      'Confirm it is you: verify a second factor again to continue.',
    );
  });

  it('blames the code, not the password, at a login’s second step, and says how many tries are left', () => {
    expect(describeError(new ApiError(401, 'INVALID_CREDENTIALS', 'x', { attemptsLeft: 2 }))).toBe(
      'Wrong code, 2 tries left',
    );
    expect(describeError(new ApiError(401, 'INVALID_CREDENTIALS', 'x', { attemptsLeft: 1 }))).toBe(
      'Wrong code, 1 try left',
    );
    expect(describeError(new ApiError(401, 'LOGIN_INVALID', 'x', { attemptsLeft: 0 }))).toBe(
      'Too many wrong codes — start again',
    );
  });

  it('words a validation failure field by field instead of "missing, unknown or wrongly typed fields"', () => {
    const error = new ApiError(
      400,
      'INVALID_REQUEST',
      'The request has missing, unknown or wrongly typed fields.',
      {
        issues: [
          { path: 'accounts', message: 'choose at least one account' },
          { path: 'name', message: 'required' },
          { path: 'name', message: 'expected a string' },
          { path: 'keys.0.kty', message: 'expected a string' },
        ],
      },
    );
    expect(fieldErrors(error)).toEqual({
      accounts: 'Choose at least one account',
      name: 'Fill this in.',
      keys: 'Expected a string',
    });
    expect(describeError(error)).not.toMatch(/wrongly typed/);
    expect(describeError(error)).toBe(
      'accounts: Choose at least one account; name: Fill this in.; name: Expected a string; keys.0.kty: Expected a string',
    );
    expect(fieldErrors(new ApiError(401, 'INVALID_CREDENTIALS', 'x'))).toEqual({});
  });

  it('keeps the gateway’s own words where they are already precise (a product rule names the instrument)', () => {
    const rule =
      'Not available to EU retail clients: no KID — closing only. SPY has no key information document (KID), which EU retail clients need to buy it; selling what you hold is allowed.';
    expect(describeError(new ApiError(422, 'PRODUCT_NOT_ELIGIBLE', rule, {}, 'PRIIPS_KID'))).toBe(rule);
    expect(describeError(new Error('The security key did not answer.'))).toBe(
      'The security key did not answer.',
    );
    expect(describeError('?')).toBe('Something went wrong. Try again.');
  });
});

describe('duration', () => {
  it('words a lifetime in days from two days up, else in hours or minutes', () => {
    expect(duration(7 * 86_400_000)).toBe('7 days');
    expect(duration(86_400_000)).toBe('24 hours');
    expect(duration(3_600_000)).toBe('1 hour');
    expect(duration(90 * 60_000)).toBe('90 minutes');
  });
});

/**
 * @module http/validation
 * What a zod validation failure tells the client: each problem as its path and what was expected
 * (`quantity: expected a positive number`, `unknown field "qty"`), the first in the message of `INVALID_REQUEST`
 * and all of them in `details.issues`. Built from the schema's expectations only: the value a client sent is never
 * echoed (a password in the wrong shape stays unsaid), and field names it sent are quoted, cut to 64 characters.
 */
import type { z } from 'zod';
import { GatehouseError } from '../core/index.js';

/** One problem of a request: where (`legs.0.quantity`; empty for the body itself) and what was wrong. */
export interface RequestIssue {
  path: string;
  message: string;
}

/** How many problems `details.issues` lists at most (a huge wrong body does not make a huge answer). */
const MAX_ISSUES = 20;

const FORMATS: Record<string, string> = {
  url: 'a URL',
  email: 'an email address',
  uuid: 'a UUID',
  datetime: 'an ISO 8601 date-time in UTC (2026-01-31T12:00:00Z)',
  date: 'an ISO 8601 date (2026-01-31)',
  base64url: 'base64url text',
  base64: 'base64 text',
  regex: 'text of the documented format',
};

const TYPES: Record<string, string> = {
  int: 'an integer',
  array: 'an array',
  object: 'an object',
  undefined: 'nothing',
};

/** `a string`, `a number`, `an object`: a type named with its article. */
function typeName(type: string): string {
  return TYPES[type] ?? `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}

/**
 * A name the client sent (an unknown key), quoted and bounded, for an error message: at most 64 characters, control
 * characters escaped (JSON) and bidirectional overrides shown as `?`, so it cannot disguise the text around it.
 */
export function quotedName(name: string): string {
  const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
  return JSON.stringify(shown.replace(/[\u202a-\u202e\u2066-\u2069]/g, '?'));
}
const quoted = quotedName;

/** A value the schema names (an enum member or literal), quoted when it is text. */
function shown(value: unknown): string {
  return typeof value === 'string' ? quoted(value) : String(value);
}

function bound(
  issue: { origin?: string; inclusive?: boolean; exact?: boolean },
  limit: unknown,
  small: boolean,
) {
  const n = Number(limit);
  const counted: Record<string, string> = {
    string: 'characters',
    array: 'items',
    set: 'items',
    file: 'bytes',
  };
  const unit = counted[issue.origin ?? ''];
  if (unit !== undefined) {
    const count = issue.exact === true || issue.inclusive !== false ? n : small ? n + 1 : n - 1;
    const units = count === 1 ? unit.slice(0, -1) : unit;
    if (issue.exact === true) return `expected exactly ${count} ${units}`;
    return `expected ${small ? 'at least' : 'at most'} ${count} ${units}`;
  }
  if (issue.origin === 'date') return `expected a date ${small ? 'from' : 'until'} ${String(limit)}`;
  if (small && n === 0)
    return issue.inclusive === false ? 'expected a positive number' : 'expected a number ≥ 0';
  const op = small ? (issue.inclusive === false ? '>' : '≥') : issue.inclusive === false ? '<' : '≤';
  return `expected a number ${op} ${String(limit)}`;
}

/** What was wrong, from the issue's expectations: never from the input. */
function problem(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      if (/received undefined$/.test(issue.message)) return 'required';
      const received = /received (\w+)$/.exec(issue.message)?.[1];
      return `expected ${typeName(issue.expected)}${received === undefined ? '' : `, got ${typeName(received)}`}`;
    }
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.slice(0, 5).map(quoted).join(', ')}${issue.keys.length > 5 ? ', …' : ''}`;
    case 'too_small':
      return bound(issue, issue.minimum, true);
    case 'too_big':
      return bound(issue, issue.maximum, false);
    case 'invalid_value':
      return issue.values.length === 1
        ? `expected ${shown(issue.values[0])}`
        : `expected one of ${issue.values.map(shown).join(', ')}`;
    case 'invalid_format':
      return `expected ${FORMATS[issue.format] ?? `the ${issue.format} format`}`;
    case 'not_multiple_of':
      return `expected a multiple of ${String(issue.divisor)}`;
    case 'invalid_union':
      return 'matches none of the accepted forms';
    case 'invalid_key':
      return 'has a key of the wrong form';
    case 'invalid_element':
      return 'has an element of the wrong form';
    default:
      // `custom`: the schema's own message (written in the protocol package, never from the input).
      return issue.message;
  }
}

/** Each problem as path and text, unknown fields first (a misspelt field usually explains a missing one). */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): RequestIssue[] {
  const ordered = [
    ...issues.filter((i) => i.code === 'unrecognized_keys'),
    ...issues.filter((i) => i.code !== 'unrecognized_keys'),
  ];
  return ordered.map((issue) => ({ path: issue.path.map(String).join('.'), message: problem(issue) }));
}

/** `INVALID_REQUEST` for a validation failure: the first problem in the message, the list in `details.issues`. */
export function invalidRequest(issues: readonly z.core.$ZodIssue[]): GatehouseError {
  const described = describeIssues(issues);
  const first = described[0];
  if (first === undefined) return new GatehouseError('INVALID_REQUEST');
  const more = described.length - 1;
  const message =
    `${first.path === '' ? '' : `${first.path}: `}${first.message}` +
    (more === 0 ? '' : ` (and ${more} more: details.issues)`);
  return new GatehouseError('INVALID_REQUEST', message, { issues: described.slice(0, MAX_ISSUES) });
}

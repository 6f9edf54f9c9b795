/**
 * The fuzzer: for every operation of the gateway's OpenAPI document, `runs` requests drawn by fast-check from the
 * operation's own schemas (test-support/fuzz/requests.ts) as each kind of principal, each sent with `app.inject`
 * and held to four rules:
 * 1. never a 5xx;
 * 2. never an uncoded error: a 4xx answers JSON with `error.code` of the vocabulary (core/errors.ts), or on the
 *    authorization server's form endpoints an RFC 6749 `error`;
 * 3. the response is as the document says (test-support/openapi.ts checks every `inject` of a test gateway);
 * 4. a refused request (4xx) changes nothing: the database digest (test-support/fuzz/digest.ts) before and after
 *    is the same, but for the refusals in `WRITING_REFUSALS` that write by design.
 * Requests of one operation are drawn with the seed `seed + index of the operation`, so `FUZZ_SEED` replays a run.
 */
import { ERROR_CODES, OAUTH_ERROR_CODES } from '@gatehouse/protocol';
import fc from 'fast-check';
import type { TestGateway } from '../gateway.js';
import { changedTables, type Digest, databaseDigest } from './digest.js';
import { idPools, PRINCIPAL_NAMES, type PrincipalName, Principals } from './principals.js';
import { type DocumentedOperation, type GeneratedRequest, operationsOf, requestsFor } from './requests.js';
import { type Json, resolver } from './schema.js';

/**
 * Refusals that write by design, each with why. A refused request that changes a table not listed for it here
 * fails the fuzz; the list is checked by fuzz.test.ts, which shows each entry's write happening.
 */
export const WRITING_REFUSALS: readonly {
  /** `METHOD /path` of the document, or `*` for any. */
  operation: string;
  codes: readonly string[];
  /** The principals it applies to; any when absent. */
  principals?: readonly PrincipalName[];
  tables: readonly string[];
  why: string;
}[] = [
  ...['/oauth2/par', '/oauth2/token', '/oauth2/revoke', '/oauth2/introspect'].map((path) => ({
    operation: `POST ${path}`,
    codes: OAUTH_ERROR_CODES,
    principals: ['program'] as const,
    tables: ['oauth_assertions'],
    why: 'a client assertion that authenticated the client is spent once presented (its jti is kept until it expires, RFC 7523 §3), whatever the rest of the request: a refused request must not let it be replayed',
  })),
  {
    operation: 'POST /v1/auth/login',
    codes: ['INVALID_CREDENTIALS'],
    tables: ['login_throttle', 'audit_log', 'audit_head'],
    why: 'a failed login counts toward the backoff of the username tried (known or not, so the answer does not tell which) and is audited',
  },
  {
    operation: 'POST /v1/session/step-up',
    codes: ['INVALID_CREDENTIALS'],
    tables: ['login_throttle', 'audit_log', 'audit_head'],
    why: 'a wrong code counts toward the user’s login backoff (passwords/throttle) and is audited as a failed step-up, or guessing would be free',
  },
  {
    operation: 'POST /v1/factors/{id}/confirm',
    codes: ['INVALID_CREDENTIALS'],
    tables: ['sms_challenges'],
    why: 'a wrong texted code counts toward its challenge’s 3 attempts (factors/sms.ts), after which the code is void: guessing the 6 digits must not be free',
  },
  {
    operation: 'POST /v1/password',
    codes: ['INVALID_CREDENTIALS'],
    tables: ['login_throttle', 'audit_log', 'audit_head'],
    why: 'a wrong current password counts toward the user’s login backoff and is audited, as a failed login is, or a stolen session could guess the password for free',
  },
];

export interface Failure {
  /** The run's seed (`FUZZ_SEED`). */
  seed: number;
  /** The seed this operation's requests were drawn with. */
  operationSeed: number;
  operation: string;
  principal: PrincipalName;
  request: GeneratedRequest & { headers: Record<string, string> };
  status: number | undefined;
  problem: string;
  body: string;
}

export interface FuzzResult {
  requests: number;
  /** `METHOD /path` of every operation at least one request was sent to, and `METHOD /path as <principal>`. */
  visited: Set<string>;
  /** Requests by status; a documented 5xx (see `sendOne`) is counted under its negated status too. */
  statuses: Map<number, number>;
  failures: Failure[];
  /** How often each exemption was used. */
  exemptionsUsed: Map<string, number>;
}

const ERROR_CODE_SET = new Set<string>(ERROR_CODES);
const OAUTH_CODE_SET = new Set<string>(OAUTH_ERROR_CODES);

/** What is wrong with an error body, if anything. */
function uncoded(status: number, contentType: string, body: string, oauth: boolean): string | undefined {
  if (!contentType.startsWith('application/json'))
    return `a ${status} answered ${contentType || 'no content type'}, not a coded JSON error`;
  let parsed: { error?: unknown };
  try {
    parsed = JSON.parse(body) as { error?: unknown };
  } catch {
    return `a ${status} body is not JSON`;
  }
  const error = parsed.error;
  if (oauth && typeof error === 'string')
    return OAUTH_CODE_SET.has(error) ? undefined : `unknown OAuth error ${error}`;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return `a ${status} has no error.code`;
  return ERROR_CODE_SET.has(code) ? undefined : `error.code ${code} is not in the vocabulary`;
}

export function exemptionFor(operation: string, principal: PrincipalName, code: string | undefined) {
  return WRITING_REFUSALS.find(
    (e) =>
      (e.operation === '*' || e.operation === operation) &&
      code !== undefined &&
      e.codes.includes(code) &&
      (e.principals === undefined || e.principals.includes(principal)),
  );
}

function errorCodeOf(body: string): string | undefined {
  try {
    const error = (JSON.parse(body) as { error?: unknown }).error;
    return typeof error === 'string' ? error : ((error as { code?: string } | undefined)?.code ?? undefined);
  } catch {
    return undefined;
  }
}

export interface FuzzOptions {
  /** The run's seed (`FUZZ_SEED`). */
  seed: number;
  /** This round's requests per operation. */
  runs: number;
  /** The round: each on a fresh gateway, its requests drawn with seeds of its own. */
  round?: number;
  /** Only these operations (`METHOD /path`); all when absent. */
  only?: readonly string[];
}

export function emptyResult(): FuzzResult {
  return { requests: 0, visited: new Set(), statuses: new Map(), failures: [], exemptionsUsed: new Map() };
}

/** One round of the fuzz on `gw`, added to `result`. */
export async function fuzzGateway(
  gw: TestGateway,
  options: FuzzOptions,
  result: FuzzResult = emptyResult(),
): Promise<FuzzResult> {
  const documentResponse = await gw.app.inject({ method: 'GET', url: '/openapi.json' });
  const document = JSON.parse(documentResponse.body) as Json;
  const resolve = resolver(document);
  const principals = new Principals(gw);
  const operations = operationsOf(document);
  for (const [index, op] of operations.entries()) {
    const name = `${op.method} ${op.path}`;
    if (options.only !== undefined && !options.only.includes(name)) continue;
    await principals.ensure();
    const seed = options.seed + (options.round ?? 0) * 100_000 + index;
    const requests = fc.sample(requestsFor(op, resolve, await idPools(gw)), { seed, numRuns: options.runs });
    // The digest after one request is the digest before the next: the database is digested once a request.
    let digest = await databaseDigest(gw.ctx.store);
    for (const [i, drawn] of requests.entries()) {
      // Callers take turns, so that with 8 requests or more an operation is called by every kind of caller.
      const request = { ...drawn, principal: PRINCIPAL_NAMES[i % PRINCIPAL_NAMES.length] as PrincipalName };
      digest = await sendOne(gw, principals, op, name, [options.seed, seed], request, digest, result);
      result.visited.add(name);
      result.visited.add(`${name} as ${request.principal}`);
    }
  }
  return result;
}

async function sendOne(
  gw: TestGateway,
  principals: Principals,
  op: DocumentedOperation,
  name: string,
  [seed, operationSeed]: [number, number],
  drawn: GeneratedRequest,
  before: Digest,
  result: FuzzResult,
): Promise<Digest> {
  let generated = drawn;
  if (generated.principal === 'program' && generated.kind === 'valid' && generated.contentType === FORM)
    generated = await asProgram(principals, generated);
  const { headers } = await principals.credentials(
    generated.principal,
    generated.method,
    generated.url,
    generated.csrf,
  );
  if (generated.contentType !== undefined) headers['content-type'] = generated.contentType;
  if (generated.dpop !== undefined) headers.dpop = generated.dpop;
  const request = { ...generated, headers };
  const fail = (status: number | undefined, problem: string, body = '') =>
    result.failures.push({
      seed,
      operationSeed,
      operation: name,
      principal: generated.principal,
      request,
      status,
      problem,
      body: body.slice(0, 1000),
    });
  let response: Awaited<ReturnType<TestGateway['app']['inject']>>;
  try {
    response = await gw.app.inject({
      method: generated.method as 'GET',
      url: generated.url,
      headers,
      ...(generated.payload === undefined ? {} : { payload: generated.payload }),
    });
  } catch (error) {
    // test-support/openapi.ts rejects a response other than the document declares.
    fail(undefined, `the response is not as documented: ${(error as Error).message.slice(0, 1500)}`);
    return databaseDigest(gw.ctx.store);
  } finally {
    result.requests += 1;
  }
  await gw.ctx.sessions.flushLastSeen();
  const after = await databaseDigest(gw.ctx.store);
  const status = response.statusCode;
  result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
  const contentType = String(response.headers['content-type'] ?? '');
  if (status >= 500) {
    // The one 5xx an operation documents by its own status, not the generic 5XX: the portal's pages answer 503
    // while the Client Portal is not built in this checkout (app/portal.ts), a state of the install, not a fault.
    const documented = (op.operation.responses as Json | undefined)?.[String(status)] !== undefined;
    if (documented) result.statuses.set(-status, (result.statuses.get(-status) ?? 0) + 1);
    else fail(status, `a ${status}`, response.body);
    return after;
  }
  if (status < 400) return after;
  const oauth =
    op.operation.responses !== undefined &&
    JSON.stringify((op.operation.responses as Json)['4XX']).includes('OAuthError');
  const problem = uncoded(status, contentType, response.body, oauth);
  if (problem !== undefined) fail(status, problem, response.body);
  const changed = changedTables(before, after);
  if (changed.length === 0) return after;
  const code = errorCodeOf(response.body);
  const exemption = exemptionFor(name, generated.principal, code);
  const unexplained = changed.filter((t) => !exemption?.tables.includes(t));
  if (exemption !== undefined && unexplained.length === 0) {
    const key = `${name} ${code}`;
    result.exemptionsUsed.set(key, (result.exemptionsUsed.get(key) ?? 0) + 1);
    return after;
  }
  fail(status, `a refused request (${code ?? status}) changed ${unexplained.join(', ')}`, response.body);
  return after;
}

const FORM = 'application/x-www-form-urlencoded';

/**
 * A valid form to the authorization server as the program would send it: its client id, a fresh client assertion
 * and DPoP proof in place of the drawn ones, so that the endpoints' paths past client authentication are fuzzed too.
 */
async function asProgram(principals: Principals, generated: GeneratedRequest): Promise<GeneratedRequest> {
  const program = principals.program;
  const form = new URLSearchParams(generated.payload ?? '');
  form.set('client_id', program.clientId);
  form.set('client_assertion', await program.assertion());
  return {
    ...generated,
    payload: form.toString(),
    dpop: await program.proof('POST', generated.url.split('?')[0] as string),
  };
}

/** A failure as a reader replays it. */
export function describeFailure(f: Failure, runs: number): string {
  return [
    `${f.operation} as ${f.principal}: ${f.problem}`,
    `  replay: FUZZ_SEED=${f.seed} FUZZ_RUNS=${runs} npm run fuzz (this operation's requests: seed ${f.operationSeed})`,
    `  request: ${f.request.method} ${f.request.url} [${f.request.kind}] headers=${JSON.stringify(f.request.headers).slice(0, 400)}`,
    `  payload: ${f.request.payload === undefined ? '(none)' : JSON.stringify(f.request.payload.slice(0, 400))}`,
    `  answered ${f.status ?? '-'}: ${f.body.slice(0, 400)}`,
  ].join('\n');
}

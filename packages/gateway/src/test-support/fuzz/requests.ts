/**
 * Requests for one operation of the OpenAPI document, as fast-check arbitraries: a principal, path parameters
 * (ids of the caller's own things, of another user's, unknown ones, odd strings), a query, and a body that is
 * valid, at a boundary, invalid, malformed JSON, of the wrong content type, or absent.
 */
import fc from 'fast-check';
import { PRINCIPAL_NAMES, type PrincipalName } from './principals.js';
import { boundary, invalid, type Json, ODD_STRINGS, type Schema, valid } from './schema.js';

export interface DocumentedOperation {
  method: string;
  /** The OpenAPI path, `{name}` for each parameter. */
  path: string;
  operation: Json;
}

/** Every operation of `document`, in document order. */
export function operationsOf(document: Json): DocumentedOperation[] {
  return Object.entries(document.paths as Record<string, Record<string, Json>>).flatMap(
    ([path, operations]) =>
      Object.entries(operations).map(([method, operation]) => ({
        method: method.toUpperCase(),
        path,
        operation,
      })),
  );
}

export const BODY_KINDS = [
  'valid',
  'boundary',
  'invalid',
  'malformed',
  'wrong content type',
  'absent',
] as const;
export type BodyKind = (typeof BODY_KINDS)[number];

/** A request as generated, before the principal's credentials are added. */
export interface GeneratedRequest {
  principal: PrincipalName;
  /** A web session's CSRF token sent along on an unsafe method. */
  csrf: boolean;
  kind: BodyKind;
  method: string;
  url: string;
  contentType: string | undefined;
  payload: string | undefined;
  /** A DPoP proof of the request (the program's, on the authorization server's endpoints). */
  dpop?: string;
}

const UNKNOWN_IDS = ['U9999999', '00000000-0000-4000-8000-000000000000', 'x'];
/** Raw path segments a client could send: percent-escapes, good and bad. */
const RAW_SEGMENTS = ['%ZZ', '%00', '%2e%2e', '..', '%C0%AF', '%F0%9F%99%82'];

/** Percent-encoding that keeps a lone surrogate as its (invalid) UTF-8 bytes, as a careless client sends it. */
function encodeSegment(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return value.replace(/[\ud800-\udfff]/g, '%ED%A0%80').replace(/[^%\w.-]/gu, (c) => encodeURIComponent(c));
  }
}

function pathParameter(
  name: string,
  schema: Schema | undefined,
  pools: Record<string, string[]>,
): fc.Arbitrary<string> {
  const known = [...(pools[name] ?? []), ...Object.values(pools).flat()].filter((v) => v.length > 0);
  const encoded = (arb: fc.Arbitrary<string>) => arb.filter((s) => s.length > 0).map(encodeSegment);
  return fc.oneof(
    {
      weight: 6,
      arbitrary: encoded(fc.constantFrom(...(pools[name]?.length ? (pools[name] as string[]) : known))),
    },
    { weight: 2, arbitrary: encoded(fc.constantFrom(...known)) },
    { weight: 1, arbitrary: encoded(fc.constantFrom(...UNKNOWN_IDS)) },
    { weight: 1, arbitrary: encoded(fc.constantFrom(...ODD_STRINGS)) },
    { weight: 1, arbitrary: fc.constantFrom(...RAW_SEGMENTS) },
    ...(schema === undefined ? [] : [{ weight: 1, arbitrary: encoded(valid(schema, (s) => s).map(String)) }]),
  );
}

function queryString(parameters: Json[], resolve: (s: Schema) => Schema): fc.Arbitrary<string> {
  const query = parameters.filter((p) => p.in === 'query');
  const value = (p: Json): fc.Arbitrary<string> =>
    fc.oneof(
      {
        weight: 6,
        arbitrary: valid(p.schema as Schema, resolve).map((v) =>
          typeof v === 'string' ? v : JSON.stringify(v),
        ),
      },
      {
        weight: 2,
        arbitrary: boundary(p.schema as Schema, resolve).map((v) =>
          typeof v === 'string' ? v : JSON.stringify(v),
        ),
      },
      { weight: 2, arbitrary: fc.constantFrom(...ODD_STRINGS) },
    );
  const pairs = fc.tuple(
    ...query.map((p) =>
      p.required === true
        ? value(p).map((v) => [[p.name as string, v]])
        : fc.option(value(p), { freq: 2 }).map((v) => (v === null ? [] : [[p.name as string, v]])),
    ),
  );
  const extra = fc.constantFrom<string[][]>([], [], [], [['__proto__', '1']], [['unexpected', 'x']]);
  return fc.tuple(pairs, extra, fc.boolean()).map(([list, more, repeat]) => {
    const entries = [...list.flat(), ...more] as [string, string][];
    // The same parameter twice, read as an array by some parsers.
    if (repeat && entries.length > 0) entries.push(entries[0] as [string, string]);
    const search = new URLSearchParams(entries).toString();
    return search === '' ? '' : `?${search}`;
  });
}

const MALFORMED = [
  // Beyond the body limit (server.bodyLimitBytes).
  `{"a":"${'x'.repeat(2_000_000)}"}`,
  '{',
  '{"a":',
  '[1,2',
  'null',
  '"text"',
  '{"a":1}{"b":2}',
  '\u0000',
  '{"a":"\ud800"}',
  `{"a":${'['.repeat(2000)}`,
];

function bodyOf(
  kind: BodyKind,
  body: { type: string; schema: Schema } | undefined,
  resolve: (s: Schema) => Schema,
): fc.Arbitrary<{ contentType: string | undefined; payload: string | undefined }> {
  const type = body?.type ?? 'application/json';
  const schema = body?.schema ?? { type: 'object' };
  const encode = (value: unknown) => {
    if (
      type === 'application/x-www-form-urlencoded' &&
      value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value)
    )
      return new URLSearchParams(
        Object.entries(value).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
      ).toString();
    return JSON.stringify(value);
  };
  switch (kind) {
    case 'valid':
      return valid(schema, resolve).map((v) => ({ contentType: type, payload: encode(v) }));
    case 'boundary':
      return boundary(schema, resolve).map((v) => ({ contentType: type, payload: encode(v) }));
    case 'invalid':
      return invalid(schema, resolve).map((v) => ({ contentType: type, payload: encode(v) }));
    case 'malformed':
      return fc.constantFrom(...MALFORMED).map((payload) => ({ contentType: type, payload }));
    case 'wrong content type':
      return fc
        .tuple(
          valid(schema, resolve),
          fc.constantFrom(
            'text/plain',
            'application/xml',
            'multipart/form-data; boundary=x',
            type === 'application/json' ? 'application/x-www-form-urlencoded' : 'application/json',
          ),
        )
        .map(([v, contentType]) => ({ contentType, payload: JSON.stringify(v) }));
    case 'absent':
      return fc.constantFrom(
        { contentType: undefined, payload: undefined },
        { contentType: type, payload: '' },
      );
  }
}

/** Requests for `op`, as any principal; `pools` are the ids path parameters draw from. */
export function requestsFor(
  op: DocumentedOperation,
  resolve: (s: Schema) => Schema,
  pools: Record<string, string[]>,
): fc.Arbitrary<GeneratedRequest> {
  const parameters = ((op.operation.parameters ?? []) as Json[]).map(
    (p): Json => ({ ...p, schema: resolve(p.schema as Schema) }),
  );
  const names = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
  const path = fc
    .tuple(
      ...names.map((name) =>
        pathParameter(
          name,
          parameters.find((p) => p.in === 'path' && p.name === name)?.schema as Schema | undefined,
          pools,
        ),
      ),
    )
    .map((values) => names.reduce((url, name, i) => url.replace(`{${name}}`, values[i] as string), op.path));
  const requestBody = op.operation.requestBody as Json | undefined;
  const content = requestBody?.content as Record<string, Json> | undefined;
  const [type, media] = Object.entries(content ?? {})[0] ?? [];
  const body = type === undefined ? undefined : { type, schema: (media as Json).schema as Schema };
  const kinds: BodyKind[] =
    body === undefined
      ? ['absent', 'absent', 'malformed', 'wrong content type']
      : ['valid', 'valid', 'valid', ...BODY_KINDS];
  return fc
    .record({
      principal: fc.constantFrom(...PRINCIPAL_NAMES),
      csrf: fc.oneof(
        { weight: 9, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
      kind: fc.constantFrom(...kinds),
      path,
      query: queryString(parameters, resolve),
    })
    .chain((r) =>
      bodyOf(r.kind, body, resolve).map(({ contentType, payload }) => ({
        principal: r.principal,
        csrf: r.csrf,
        kind: r.kind,
        method: op.method,
        url: `${r.path}${r.query}`,
        contentType,
        payload:
          op.method === 'GET' || op.method === 'DELETE'
            ? r.kind === 'absent'
              ? undefined
              : payload
            : payload,
      })),
    );
}

/**
 * JSON Schema (the dialect of the gateway's OpenAPI 3.1 document: what `z.toJSONSchema` makes of the routes' zod
 * schemas) turned into fast-check arbitraries of three kinds:
 * - `valid`: values the schema accepts (types, enums and consts, lengths, patterns, bounds, required properties);
 * - `boundary`: values at the schema's edges, most of them still valid (the shortest and longest strings, the
 *   least and greatest numbers, empty arrays, as many items as allowed) and some one past them (one character,
 *   one unit or one item too many);
 * - `invalid`: values the schema refuses, or that probe the parser (a wrong type, a required property missing, an
 *   unknown property, `__proto__` and `constructor` keys, unicode and control characters, very long strings,
 *   huge and non-integral numbers).
 * Only the keywords the document uses are understood; any other leaves a value unconstrained by it.
 */
import fc from 'fast-check';

export type Json = Record<string, unknown>;
export type Schema = Json;

/** Resolves `$ref`s to `#/components/schemas/…` of `document`. */
export function resolver(document: Json): (schema: Schema) => Schema {
  const resolve = (schema: Schema): Schema => {
    const ref = schema.$ref;
    if (typeof ref !== 'string') return schema;
    const target = ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>(
        (node, key) => (node as Json | undefined)?.[key.replace(/~1/g, '/').replace(/~0/g, '~')],
        document,
      );
    if (target === undefined) throw new Error(`unresolved ${ref}`);
    return resolve(target as Schema);
  };
  return resolve;
}

/** Strings that have broken parsers elsewhere: unicode of every plane, controls, escapes, prototype names. */
export const ODD_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  '\u202e\u0301é',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🙂',
  '\ud800',
  '../../etc/passwd',
  '%00',
  "'; DROP TABLE users; --",
  `\${7*7}{{7*7}}`,
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'NaN',
  '-1',
  '1e309',
  'null',
  'x'.repeat(10_000),
];

const HUGE_NUMBERS: readonly number[] = [
  0,
  -0,
  -1,
  1.5,
  Number.MAX_SAFE_INTEGER + 2,
  -Number.MAX_SAFE_INTEGER - 2,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  1e21,
];

function typeOf(schema: Schema): string | undefined {
  if (typeof schema.type === 'string') return schema.type;
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== 'null') as string | undefined;
  if (schema.properties !== undefined) return 'object';
  if (schema.items !== undefined) return 'array';
  return undefined;
}

function alternatives(schema: Schema): Schema[] | undefined {
  const list = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  return Array.isArray(list) && list.length > 0 ? list : undefined;
}

function patternString(schema: Schema): fc.Arbitrary<string> | undefined {
  if (typeof schema.pattern !== 'string') return undefined;
  try {
    const min = Number(schema.minLength ?? 0);
    const max = Number(schema.maxLength ?? Number.POSITIVE_INFINITY);
    return fc
      .stringMatching(new RegExp(schema.pattern, 'u'))
      .filter((s) => [...s].length >= min && [...s].length <= max);
  } catch {
    // A pattern fast-check cannot generate from (`\p{…}` classes): any string, the route decides.
    return undefined;
  }
}

function formatString(schema: Schema): fc.Arbitrary<string> | undefined {
  switch (schema.format) {
    case 'date-time':
      return fc
        .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
        .map((d) => d.toISOString());
    case 'uri':
      return fc.webUrl();
    default:
      return undefined;
  }
}

function stringArb(schema: Schema): fc.Arbitrary<string> {
  const patterned = patternString(schema) ?? formatString(schema);
  if (patterned !== undefined) return patterned;
  const minLength = Number(schema.minLength ?? 0);
  const maxLength = Math.min(Number(schema.maxLength ?? minLength + 40), minLength + 200);
  return fc.string({ minLength, maxLength, unit: 'grapheme' });
}

function numberArb(schema: Schema, integer: boolean): fc.Arbitrary<number> {
  const exclusiveMin = typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum : undefined;
  const exclusiveMax = typeof schema.exclusiveMaximum === 'number' ? schema.exclusiveMaximum : undefined;
  const min = typeof schema.minimum === 'number' ? schema.minimum : exclusiveMin;
  const max = typeof schema.maximum === 'number' ? schema.maximum : exclusiveMax;
  const lo = Math.max(min ?? -1e9, -Number.MAX_SAFE_INTEGER);
  const hi = Math.min(max ?? 1e9, Number.MAX_SAFE_INTEGER);
  const arb = integer
    ? fc.integer({ min: Math.ceil(lo), max: Math.floor(hi) })
    : fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true });
  return arb.filter(
    (n) =>
      (exclusiveMin === undefined || n > exclusiveMin) && (exclusiveMax === undefined || n < exclusiveMax),
  );
}

/** Values `schema` accepts (within the keywords this module understands). */
export function valid(schema: Schema, resolve: (s: Schema) => Schema, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  if ('const' in s) return fc.constant(s.const);
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
  const options = alternatives(s);
  if (options !== undefined) return fc.oneof(...options.map((o) => valid(o, resolve, depth + 1)));
  switch (typeOf(s)) {
    case 'string':
      return stringArb(s);
    case 'integer':
      return numberArb(s, true);
    case 'number':
      return numberArb(s, false);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const minLength = Number(s.minItems ?? 0);
      const maxLength = Math.min(Number(s.maxItems ?? minLength + 4), minLength + 4);
      const items = s.items === undefined ? fc.anything() : valid(s.items as Schema, resolve, depth + 1);
      return fc.array(items, { minLength, maxLength });
    }
    case 'object':
      return objectArb(s, resolve, depth, (p) => valid(p, resolve, depth + 1));
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function objectArb(
  s: Schema,
  resolve: (s: Schema) => Schema,
  depth: number,
  property: (p: Schema) => fc.Arbitrary<unknown>,
): fc.Arbitrary<unknown> {
  const properties = (s.properties ?? {}) as Record<string, Schema>;
  const required = new Set((s.required ?? []) as string[]);
  if (Object.keys(properties).length === 0 && typeof s.additionalProperties === 'object' && depth < 3) {
    // A record (`z.record`): a few keys of its key pattern, values of its value schema.
    const keys =
      s.propertyNames === undefined
        ? fc.string({ minLength: 1, maxLength: 12 })
        : stringArb(resolve(s.propertyNames as Schema));
    return fc.dictionary(keys, property(s.additionalProperties as Schema), { maxKeys: 3 });
  }
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, p] of Object.entries(properties)) record[name] = property(p);
  return fc.record(record, { requiredKeys: [...required].filter((k) => k in record) });
}

/** Values at the edges of `schema`: its least and greatest, and one past them. */
export function boundary(schema: Schema, resolve: (s: Schema) => Schema, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  if ('const' in s || Array.isArray(s.enum)) return valid(s, resolve, depth);
  const options = alternatives(s);
  if (options !== undefined) return fc.oneof(...options.map((o) => boundary(o, resolve, depth + 1)));
  switch (typeOf(s)) {
    case 'string': {
      const min = Number(s.minLength ?? 0);
      const max = typeof s.maxLength === 'number' ? s.maxLength : undefined;
      const edges = [min, Math.max(min - 1, 0), ...(max === undefined ? [4096] : [max, max + 1])];
      return fc.oneof(
        fc.constantFrom(...edges).chain((n) => fc.constantFrom('a'.repeat(n), '9'.repeat(n), 'é'.repeat(n))),
        valid(s, resolve, depth),
      );
    }
    case 'integer':
    case 'number': {
      const edges = [0, -1, 1, ...HUGE_NUMBERS];
      for (const k of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const) {
        const v = s[k];
        if (typeof v === 'number') edges.push(v, v - 1, v + 1);
      }
      return fc.constantFrom(...edges);
    }
    case 'array': {
      const min = Number(s.minItems ?? 0);
      const max = typeof s.maxItems === 'number' ? s.maxItems : undefined;
      const items = s.items === undefined ? fc.constant(1) : valid(s.items as Schema, resolve, depth + 1);
      const sizes = [0, min, ...(max === undefined ? [] : [max, max + 1])];
      return fc
        .constantFrom(...sizes)
        .chain((n) => fc.array(items, { minLength: Math.min(n, 120), maxLength: Math.min(n, 120) }));
    }
    case 'object':
      return objectArb(s, resolve, depth, (p) =>
        depth < 3
          ? fc.oneof(valid(p, resolve, depth + 1), boundary(p, resolve, depth + 1))
          : valid(p, resolve, depth + 1),
      );
    default:
      return valid(s, resolve, depth);
  }
}

/** A value of another JSON type than `type`. */
function wrongType(type: string | undefined): fc.Arbitrary<unknown> {
  const all: Record<string, fc.Arbitrary<unknown>> = {
    string: fc.constantFrom(...ODD_STRINGS),
    number: fc.constantFrom(...HUGE_NUMBERS),
    boolean: fc.boolean(),
    null: fc.constant(null),
    array: fc.constantFrom([], [1, 'a'], [null]),
    object: fc.constantFrom({}, { a: 1 }, JSON.parse('{"__proto__": {"polluted": true}}')),
  };
  const others = Object.entries(all)
    .filter(([k]) => k !== type && !(type === 'integer' && k === 'number'))
    .map(([, v]) => v);
  return fc.oneof(...others);
}

/** Values `schema` refuses, or that probe the parser behind it. */
export function invalid(schema: Schema, resolve: (s: Schema) => Schema, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  const type = typeOf(s);
  const generic = fc.oneof(wrongType(type), fc.constantFrom(...ODD_STRINGS));
  if (type !== 'object' || depth > 2) return generic;
  const properties = (s.properties ?? {}) as Record<string, Schema>;
  const names = Object.keys(properties);
  const required = (s.required ?? []) as string[];
  const base = valid(s, resolve, depth) as fc.Arbitrary<Json>;
  const mutations: fc.Arbitrary<unknown>[] = [
    generic,
    // An unknown property, or a prototype key (parsed JSON makes it an own property).
    fc
      .tuple(
        base,
        fc.constantFrom('__proto__', 'constructor', 'prototype', 'unexpected', 'x'.repeat(300)),
        fc.jsonValue({ maxDepth: 2 }),
      )
      .map(([value, key, extra]) =>
        JSON.parse(
          `{${JSON.stringify(key)}:${JSON.stringify(extra)},${JSON.stringify(value ?? {}).slice(1)}`.replace(
            /,}$/,
            '}',
          ),
        ),
      ),
  ];
  if (required.length > 0)
    mutations.push(
      fc.tuple(base, fc.constantFrom(...required)).map(([value, key]) => {
        const copy = { ...(value ?? {}) };
        delete copy[key];
        return copy;
      }),
    );
  if (names.length > 0)
    mutations.push(
      fc
        .constantFrom(...names)
        .chain((key) =>
          fc
            .tuple(base, invalid(properties[key] as Schema, resolve, depth + 1))
            .map(([value, bad]) => ({ ...(value ?? {}), [key]: bad })),
        ),
    );
  return fc.oneof(...mutations);
}

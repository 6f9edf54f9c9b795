/**
 * @module sandbox/scenario-format
 * The scenario file's format: its JSON Schema (`scenarioJsonSchema`, written to `docs/sandbox/scenario.schema.json`),
 * and JSON read with the line of every value, so an error in a scenario file names where it is
 * (`scenario.json:14 steps[2].kind: …`). The reader is a small parser of RFC 8259 JSON that records, for each path,
 * the line its member's key (or its array item) starts on; a syntax error names its line too. Duplicate keys are
 * refused rather than silently resolved to the last one, as `JSON.parse` would.
 */
import { FAULT_CATALOGUE, scenarioSchema } from '@gatehouse/protocol';
import { z } from 'zod';

/** A place in a JSON document: object keys and array indexes from the root. */
export type JsonPath = readonly (string | number)[];

export interface LocatedJson {
  value: unknown;
  /** The line (from 1) of the value at `path`, or of its nearest ancestor that exists. */
  lineOf(path: JsonPath): number;
}

/** A syntax error, with the line it is on. */
export class JsonTextError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

/** Nesting deeper than this is refused (a scenario is three levels deep; a deep one would exhaust the stack). */
const MAX_DEPTH = 32;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** `steps[2].target.id`: a path as an error message shows it. */
export function formatPath(path: JsonPath): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

/** Parses `text` as JSON, recording the line of each value; a syntax error → `JsonTextError`. */
export function parseLocatedJson(text: string): LocatedJson {
  const lines = new Map<string, number>();
  let at = 0;
  let line = 1;

  const fail = (message: string): never => {
    throw new JsonTextError(message, line);
  };
  const shown = () => (at >= text.length ? 'the end of the file' : JSON.stringify(text[at]));
  const space = () => {
    for (; at < text.length; at += 1) {
      const c = text[at];
      if (c === '\n') line += 1;
      else if (c !== ' ' && c !== '\t' && c !== '\r') break;
    }
  };
  const expect = (c: string) => {
    if (text[at] !== c) fail(`expected ${JSON.stringify(c)}, found ${shown()}`);
    at += 1;
  };
  const string = (): string => {
    const start = at;
    at += 1;
    for (; at < text.length && text[at] !== '"'; at += 1) if (text[at] === '\\') at += 1;
    if (at >= text.length) fail('a string is not closed');
    at += 1;
    try {
      return JSON.parse(text.slice(start, at)) as string;
    } catch {
      return fail('a string holds a line break, a control character or a bad escape');
    }
  };
  const value = (path: (string | number)[], depth: number): unknown => {
    if (depth > MAX_DEPTH) fail(`nested more than ${MAX_DEPTH} levels deep`);
    space();
    lines.set(JSON.stringify(path), line);
    const c = text[at];
    if (c === '{') {
      at += 1;
      const object: Record<string, unknown> = {};
      space();
      if (text[at] === '}') {
        at += 1;
        return object;
      }
      for (;;) {
        space();
        if (text[at] !== '"') fail(`expected a field name in double quotes, found ${shown()}`);
        const keyLine = line;
        const key = string();
        if (Object.hasOwn(object, key)) fail(`the field ${JSON.stringify(key)} is given twice`);
        space();
        expect(':');
        const member = value([...path, key], depth + 1);
        // Defined, not assigned: a key "__proto__" is data, as JSON.parse makes it.
        Object.defineProperty(object, key, {
          value: member,
          enumerable: true,
          writable: true,
          configurable: true,
        });
        lines.set(JSON.stringify([...path, key]), keyLine);
        space();
        if (text[at] === ',') {
          at += 1;
          continue;
        }
        expect('}');
        return object;
      }
    }
    if (c === '[') {
      at += 1;
      const array: unknown[] = [];
      space();
      if (text[at] === ']') {
        at += 1;
        return array;
      }
      for (;;) {
        array.push(value([...path, array.length], depth + 1));
        space();
        if (text[at] === ',') {
          at += 1;
          continue;
        }
        expect(']');
        return array;
      }
    }
    if (c === '"') return string();
    for (const [word, literal] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const)
      if (text.startsWith(word, at)) {
        at += word.length;
        return literal;
      }
    NUMBER.lastIndex = at;
    const number = NUMBER.exec(text);
    if (number === null) return fail(`expected a value, found ${shown()}`);
    at += number[0].length;
    return Number(number[0]);
  };

  // A byte-order mark is not JSON, but editors write one.
  if (text.charCodeAt(0) === 0xfeff) at = 1;
  const root = value([], 0);
  space();
  if (at < text.length) fail(`unexpected ${shown()} after the document`);
  return {
    value: root,
    lineOf(path) {
      for (let n = path.length; n >= 0; n -= 1) {
        const found = lines.get(JSON.stringify(path.slice(0, n)));
        if (found !== undefined) return found;
      }
      return 1;
    },
  };
}

/**
 * The JSON Schema of a scenario file (`docs/sandbox/scenario.schema.json`), from `scenarioSchema` by zod itself,
 * with each kind's parameters: an editor checks `params` against the step's `kind`.
 */
export function scenarioJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(scenarioSchema, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'any',
  });
  const defs = schema.$defs as Record<string, Record<string, unknown>>;
  const scenarioDef = defs.Scenario as { properties: { steps: { items: Record<string, unknown> } } };
  scenarioDef.properties.steps.items.allOf = Object.entries(FAULT_CATALOGUE).map(([kind, entry]) => {
    const { $schema: _dialect, ...params } = z.toJSONSchema(entry.params, {
      io: 'input',
      target: 'draft-2020-12',
    });
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keywords, not a promise
    return { if: { properties: { kind: { const: kind } } }, then: { properties: { params } } };
  });
  return {
    ...schema,
    title: 'Gatehouse failure-sandbox scenario',
    description:
      'A timeline of faults relative to the start, with a seed (docs/sandbox.md#scenarios). Targets may name $user, $client, $account and $session, bound when the scenario is played.',
  };
}

/**
 * @module store/prepared
 * A Kysely query built and compiled once, then run with new parameters: the hot reads (order entry's session and
 * idempotency checks) skip rebuilding the query tree and recompiling its SQL on every call, which costs more than
 * running the statement. The query is built with placeholder markers; compiling finds where each marker landed
 * among the SQL's parameters, so the typed builder stays the only description of the query.
 */
import { type Compilable, CompiledQuery, type Kysely } from 'kysely';
import type { Database } from './tables.js';

const MARKER = '\u0000gatehouse-parameter-';

export type Parameter = string | number | null;

export interface PreparedQuery<Row> {
  /** The rows for these arguments. */
  all(...args: Parameter[]): Promise<Row[]>;
  /** The first row, or undefined. */
  first(...args: Parameter[]): Promise<Row | undefined>;
}

/**
 * Prepares `build(p0, p1, …)`, where each `pN` stands for the Nth argument of every later call. Every marker must
 * reach the SQL as a parameter exactly once.
 */
export function preparedQuery<Row>(
  db: Kysely<Database>,
  arity: number,
  build: (db: Kysely<Database>, ...markers: string[]) => Compilable<Row>,
): PreparedQuery<Row> {
  const markers = Array.from({ length: arity }, (_, i) => `${MARKER}${i}`);
  const compiled = build(db, ...markers).compile();
  const slots = compiled.parameters.map((value) => markers.indexOf(value as string));
  for (let i = 0; i < arity; i += 1) {
    if (slots.filter((slot) => slot === i).length !== 1)
      throw new Error(`prepared query: parameter ${i} must appear exactly once in ${compiled.sql}`);
  }
  const fixed = compiled.parameters;
  const run = async (args: readonly Parameter[]): Promise<Row[]> => {
    if (args.length !== arity) throw new Error(`prepared query: expected ${arity} arguments`);
    const parameters = slots.map((slot, i) => (slot === -1 ? fixed[i] : args[slot]));
    const result = await db.executeQuery<Row>(CompiledQuery.raw(compiled.sql, parameters));
    return result.rows;
  };
  return {
    all: (...args) => run(args),
    first: async (...args) => (await run(args))[0],
  };
}

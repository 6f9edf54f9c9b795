/**
 * The gateway's shape, checked (test-support/architecture.ts reads it from the code): no import circle between
 * source files (type-only imports included) nor between capabilities, no capability above `app/` (the composition
 * root), the dependency diagram in docs/architecture.md as the code has it, no double cast in the WebSocket
 * upgrades, and every table written only by the folder docs/architecture.md names as its owner.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ASSEMBLY,
  capabilityGraph,
  circles,
  declaredTables,
  documentedDiagram,
  documentedOwners,
  folderOf,
  importsOf,
  mermaid,
  SRC,
  sourceFiles,
  tablesWritten,
} from './test-support/architecture.js';

/** Folders allowed to import `app/`: the composition root itself and the command line that starts it. */
const ABOVE_APP = new Set(['app', 'cli']);
/** A source file this long says at its top why (its module comment, "Longer than most modules: …"). */
const LONG_FILE_LINES = 420;
/** Writers besides a table's owner: the migrations, which create and seed the schema. */
const SCHEMA_WRITERS = new Set(['store']);

const files = sourceFiles();
const graph = new Map(files.map((file) => [file, importsOf(file)]));

describe('the gateway’s import graph', () => {
  it('reads every source file and its imports', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(graph.get(join(SRC, 'app/gateway.ts'))).toContain(join(SRC, 'app/server.ts'));
  });

  it('has no import circle between files, type-only imports included', () => {
    const found = circles(graph).map((c) => c.map((f) => relative(SRC, f)));
    expect(found).toEqual([]);
  });

  it('finds a circle when there is one', () => {
    expect(
      circles(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['a']],
          ['d', ['a']],
        ]),
      ),
    ).toEqual([['a', 'b', 'c']]);
  });

  it('has no circle between capabilities (their services, below the HTTP face)', () => {
    expect(circles(capabilityGraph(files))).toEqual([]);
  });

  it('keeps app/ above every capability', () => {
    const offenders = files.flatMap((file) => {
      const folder = folderOf(file);
      if (folder === undefined || ABOVE_APP.has(folder)) return [];
      return importsOf(file)
        .filter((target) => folderOf(target) === 'app')
        .map((target) => `${relative(SRC, file)} → ${relative(SRC, target)}`);
    });
    expect(offenders).toEqual([]);
  });

  it('is drawn in docs/architecture.md as it is (npm run docs:architecture)', () => {
    expect(documentedDiagram()).toBe(mermaid(capabilityGraph(files)));
  });
});

describe('the WebSocket upgrades', () => {
  it('cast nothing: request fields are typed once, by module augmentation (no `as unknown as` in ws/)', () => {
    const dir = join(SRC, 'ws');
    const casts = readdirSync(dir)
      .filter((name) => name.endsWith('.ts'))
      .filter((name) => readFileSync(join(dir, name), 'utf8').includes(['as', 'unknown', 'as'].join(' ')));
    expect(casts).toEqual([]);
  });
});

describe('file size', () => {
  it('keeps source files to ~400 lines, or says at the top why one is longer', () => {
    const long = files.flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      const lines = text.split('\n').length;
      const head = text.slice(0, text.indexOf('*/') + 2);
      return lines > LONG_FILE_LINES && !head.includes('Longer than most modules')
        ? [`${relative(SRC, file)}: ${lines} lines`]
        : [];
    });
    expect(long).toEqual([]);
  });
});

describe('table ownership', () => {
  const tables = declaredTables();
  const owners = documentedOwners();

  it('names an owning capability for every table', () => {
    expect([...owners.keys()].sort()).toEqual([...tables].sort());
    for (const owner of owners.values()) expect(ASSEMBLY).not.toContain(owner);
  });

  it('lets only the owner write a table', () => {
    const known = new Set(tables);
    const foreign = files.flatMap((file) => {
      const folder = folderOf(file) ?? '';
      return tablesWritten(file, known)
        .filter((table) => owners.get(table) !== folder && !SCHEMA_WRITERS.has(folder))
        .map((table) => `${relative(SRC, file)} writes ${table} (owner: ${owners.get(table)})`);
    });
    expect(foreign).toEqual([]);
  });

  it('sees a write in a Kysely builder and in SQL text, not in prose', () => {
    const known = new Set(['orders', 'devices', 'users']);
    const file = join(SRC, 'trading/store.ts');
    expect(tablesWritten(file, known)).toContain('orders');
    expect(tablesWritten(join(SRC, 'devices/registry.ts'), known)).toContain('devices');
    expect(tablesWritten(join(SRC, 'core/clock.ts'), known)).toEqual([]);
  });
});

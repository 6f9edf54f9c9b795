/**
 * The gateway's shape as the code has it, read with TypeScript's own parser: which source file imports which, which
 * capability folder depends on which, and which tables each folder writes. Used by architecture.test.ts, and by
 * `npm run docs:architecture`, which writes the dependency diagram into docs/architecture.md.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export const SRC = resolve(dirname(new URL(import.meta.url).pathname), '..');
export const ARCHITECTURE_DOC = resolve(SRC, '../../../docs/architecture.md');

/** Folders below every capability: any of them may be used by all. */
export const FOUNDATION = ['core', 'config', 'store', 'audit'];
/** Folders that assemble or present the capabilities (the composition root, the command line, HTTP, streams). */
export const ASSEMBLY = ['app', 'cli', 'demo', 'http', 'ws'];

/** The gateway's source files: tests and test support aside. */
export function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'test-support' ? [] : sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
}

/** Relative imports and re-exports of a file (type-only ones included), resolved to the .ts files they name. */
export function importsOf(file: string): string[] {
  const targets: string[] = [];
  for (const statement of parse(file).statements) {
    const specifier =
      (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
      statement.moduleSpecifier !== undefined &&
      ts.isStringLiteral(statement.moduleSpecifier)
        ? statement.moduleSpecifier.text
        : undefined;
    if (specifier?.startsWith('.')) targets.push(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
  }
  return targets;
}

/** The folder of a source file under src/ (undefined for a file at the root). */
export function folderOf(file: string): string | undefined {
  const parts = relative(SRC, file).split('/');
  return parts.length > 1 ? parts[0] : undefined;
}

/** Strongly connected components of more than one node (Tarjan), each sorted. */
export function circles(graph: Map<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/**
 * How the capabilities depend on one another: folder → the folders its files import, leaving out the foundation
 * (used by all), the assembly folders and each capability's routes (the HTTP face, which depends on http/).
 */
export function capabilityGraph(files = sourceFiles()): Map<string, string[]> {
  const graph = new Map<string, Set<string>>();
  for (const file of files) {
    const from = folderOf(file);
    if (from === undefined || FOUNDATION.includes(from) || ASSEMBLY.includes(from)) continue;
    if (!graph.has(from)) graph.set(from, new Set());
    if (file.endsWith('/routes.ts')) continue;
    for (const target of importsOf(file)) {
      const to = folderOf(target);
      if (to === undefined || to === from || FOUNDATION.includes(to) || ASSEMBLY.includes(to)) continue;
      graph.get(from)?.add(to);
    }
  }
  return new Map([...graph].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, [...v].sort()]));
}

/** The capability graph as a Mermaid flowchart. */
export function mermaid(graph: Map<string, readonly string[]>): string {
  const lines = ['flowchart LR'];
  for (const [from, tos] of graph) {
    if (tos.length === 0) lines.push(`  ${from}`);
    for (const to of tos) lines.push(`  ${from} --> ${to}`);
  }
  return lines.join('\n');
}

const DIAGRAM =
  /(<!-- capability-graph:start -->\n```mermaid\n)([\s\S]*?)(\n```\n<!-- capability-graph:end -->)/;

/** The diagram docs/architecture.md shows. */
export function documentedDiagram(doc = readFileSync(ARCHITECTURE_DOC, 'utf8')): string | undefined {
  return DIAGRAM.exec(doc)?.[2];
}

/** The tables the `Database` interface declares (store/tables.ts). */
export function declaredTables(): string[] {
  const source = parse(join(SRC, 'store/tables.ts'));
  for (const statement of source.statements) {
    if (ts.isInterfaceDeclaration(statement) && statement.name.text === 'Database') {
      return statement.members.flatMap((m) =>
        m.name !== undefined && ts.isIdentifier(m.name) ? [m.name.text] : [],
      );
    }
  }
  throw new Error('store/tables.ts declares no Database interface');
}

const KYSELY_WRITES = new Set(['insertInto', 'updateTable', 'deleteFrom', 'replaceInto', 'mergeInto']);
const SQL_WRITE = /\b(?:insert\s+into|update|delete\s+from)\s+([a-z_]+)\b/gi;

/** Each table a file writes: Kysely's write builders, and INSERT/UPDATE/DELETE in SQL text, for known tables. */
export function tablesWritten(file: string, tables: ReadonlySet<string>): string[] {
  const found = new Set<string>();
  const visit = (node: ts.Node) => {
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      KYSELY_WRITES.has(node.expression.name.text)
    ) {
      const first = node.arguments[0];
      if (first !== undefined && ts.isStringLiteralLike(first)) {
        const table = first.text.split(' ')[0] ?? '';
        if (tables.has(table)) found.add(table);
      }
    }
    if (
      ts.isStringLiteralLike(node) ||
      ts.isTemplateHead(node) ||
      ts.isTemplateMiddle(node) ||
      ts.isTemplateTail(node)
    ) {
      for (const match of node.text.matchAll(SQL_WRITE)) {
        const table = match[1]?.toLowerCase() ?? '';
        if (tables.has(table)) found.add(table);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(parse(file));
  return [...found];
}

/** The ownership table of docs/architecture.md: table → owning folder. */
export function documentedOwners(doc = readFileSync(ARCHITECTURE_DOC, 'utf8')): Map<string, string> {
  const owners = new Map<string, string>();
  for (const line of doc.split('\n')) {
    const row = /^\| `([a-z_]+)` \| `([a-z]+)\/` \|/.exec(line);
    if (row?.[1] !== undefined && row[2] !== undefined) owners.set(row[1], row[2]);
  }
  return owners;
}

// `npm run docs:architecture`: writes the capability diagram into docs/architecture.md.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  const doc = readFileSync(ARCHITECTURE_DOC, 'utf8');
  if (documentedDiagram(doc) === undefined)
    throw new Error('docs/architecture.md has no capability-graph block');
  writeFileSync(
    ARCHITECTURE_DOC,
    doc.replace(DIAGRAM, (_all, head, _body, tail) => `${head}${mermaid(capabilityGraph())}${tail}`),
  );
  process.stdout.write('docs/architecture.md: capability diagram written\n');
}

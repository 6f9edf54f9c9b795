/**
 * @module sandbox/scenarios
 * Scenarios: declarative, versioned timelines of faults with a seed (`scenarioSchema` in `@gatehouse/protocol`, its
 * JSON Schema in `docs/sandbox/scenario.schema.json`, the format in `docs/sandbox.md#scenarios`), and the library
 * shipped in `packages/gateway/scenarios/`.
 *
 * What a drill or a command calls:
 * - `loadScenario(fileOrName)`: reads a scenario file, or a library scenario by name (`libraryScenarioNames()`),
 *   and checks it (`parseScenario(text, source)` for text in hand). Every error names the file's line and the JSON
 *   path: `scenario.json:14 steps[2].kind: unknown fault "push.exploded"`.
 * - `playScenario(sandbox, clock, scenario, {bindings, actor, startAt, lines})`: binds the placeholders (`$user`,
 *   `$client`, `$account`, `$session`), prepares EVERY step (kind, params, target, owner, exclusive overlaps within
 *   the batch and with faults already there) before injecting any, then injects them as one batch, each step `at`
 *   milliseconds after the start on the gateway's clock. Resolves to `{startedAt, faults}`.
 * - `withScenarioLines(error, loaded)`: an error from the play API (`POST /v1/sandbox/scenarios`, whose paths are
 *   within the scenario) told again with the file's lines.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  EXCLUSIVE_FAULT_KINDS,
  FAULT_CATALOGUE,
  type Fault,
  type FaultKind,
  type FaultTarget,
  type Scenario,
  scenarioSchema,
} from '@gatehouse/protocol';
import { z } from 'zod';
import { type Clock, type ErrorCode, GatehouseError } from '../core/index.js';
import { quotedName } from '../http/index.js';
import { describeIssues } from '../http/validation.js';
import { formatPath, type JsonPath, JsonTextError, parseLocatedJson } from './scenario-format.js';
import type { Sandbox } from './service.js';
import type { InjectedFault, SandboxActor } from './types.js';

/** The placeholders a step's target may name, and the target type each stands for. */
export const SCENARIO_PLACEHOLDERS = {
  $user: 'user',
  $client: 'client',
  $account: 'account',
  $session: 'session',
} as const satisfies Record<string, FaultTarget['type']>;
type Placeholder = keyof typeof SCENARIO_PLACEHOLDERS;

const boundId = z.string().min(1).max(64);
/** What the placeholders stand for when a scenario is played: the drill's own user, API client, account, session. */
export const scenarioBindingsSchema = z
  .strictObject({
    user: boundId.optional(),
    client: boundId.optional(),
    account: boundId.optional(),
    session: boundId.optional(),
  })
  .meta({ id: 'ScenarioBindings' });
export type ScenarioBindings = z.infer<typeof scenarioBindingsSchema>;

/** A checked scenario and where it came from: `lineOf` is undefined when it did not come from text. */
export interface LoadedScenario {
  scenario: Scenario;
  source: string;
  lineOf?: (path: JsonPath) => number;
}

/** The shipped library: `packages/gateway/scenarios/` (from `src/sandbox/` and from `dist/sandbox/` alike). */
export const SCENARIO_LIBRARY_DIR = fileURLToPath(new URL('../../scenarios/', import.meta.url));
/** The `$schema` a library file names (relative to the library folder). */
export const SCENARIO_SCHEMA_REF = '../../../docs/sandbox/scenario.schema.json';
/** A scenario file larger than this is refused unread (a 40-step scenario is a few kilobytes). */
const MAX_SCENARIO_BYTES = 1_000_000;
/** How far in the past an explicit start may be (clock skew between a caller and the gateway), as for a fault. */
const PAST_TOLERANCE_MS = 1_000;
const MAX_SEED = 2 ** 31;

interface Issue {
  path: JsonPath;
  message: string;
}

/** The names of the library's scenarios (`2fa-delay-at-open`, …), sorted. */
export function libraryScenarioNames(): string[] {
  return readdirSync(SCENARIO_LIBRARY_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/**
 * A scenario's text: the file at `fileOrName`, or else the library scenario of that name. Neither → an error that
 * lists the library.
 */
export function readScenario(fileOrName: string): { text: string; source: string } {
  const isFile = statSync(fileOrName, { throwIfNoEntry: false })?.isFile() === true;
  const library = /^[a-z0-9][a-z0-9-]*$/.test(fileOrName) && libraryScenarioNames().includes(fileOrName);
  if (!isFile && !library)
    throw new GatehouseError(
      'INVALID_REQUEST',
      `No scenario file ${quotedName(fileOrName)} and no library scenario of that name (the library: ${libraryScenarioNames().join(', ')}).`,
    );
  const path = isFile ? fileOrName : `${SCENARIO_LIBRARY_DIR}${fileOrName}.json`;
  const size = statSync(path).size;
  if (size > MAX_SCENARIO_BYTES)
    throw new GatehouseError(
      'INVALID_REQUEST',
      `${fileOrName}: a scenario file is at most 1 MB (${size} bytes).`,
    );
  return { text: readFileSync(path, 'utf8'), source: isFile ? fileOrName : `scenarios/${fileOrName}.json` };
}

/** Reads and checks a scenario file or library scenario (`readScenario`, `parseScenario`). */
export function loadScenario(fileOrName: string): LoadedScenario {
  const { text, source } = readScenario(fileOrName);
  return parseScenario(text, source);
}

/** Checks a scenario file's text; every error names its line and JSON path (`INVALID_REQUEST`). */
export function parseScenario(text: string, source = 'scenario.json'): LoadedScenario {
  let located: ReturnType<typeof parseLocatedJson>;
  try {
    located = parseLocatedJson(text);
  } catch (error) {
    if (!(error instanceof JsonTextError)) throw error;
    throw new GatehouseError('INVALID_REQUEST', `${source}:${error.line}: ${error.message}`, {
      issues: [{ path: '', line: error.line, message: error.message }],
    });
  }
  return checkScenario(located.value, { source, lineOf: located.lineOf });
}

/** Checks a scenario as a value (the play API's body); `where` gives the lines when it came from text. */
export function checkScenario(
  value: unknown,
  where: { source: string; lineOf?: (path: JsonPath) => number } = { source: 'scenario' },
): LoadedScenario {
  const issues: Issue[] = [];
  const parsed = scenarioSchema.safeParse(value);
  if (!parsed.success) for (const issue of parsed.error.issues) issues.push(...schemaIssue(issue, value));
  issues.push(...stepIssues(value));
  if (issues.length > 0) throw scenarioError('INVALID_REQUEST', issues, where);
  return { scenario: parsed.data as Scenario, ...where };
}

/** A zod issue as the scenario's own words: an unknown fault by name, a negative `at` as a time in the past. */
function schemaIssue(issue: z.core.$ZodIssue, root: unknown): Issue[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const inStep = path[0] === 'steps' && typeof path[1] === 'number';
  const last = path[path.length - 1];
  if (issue.code === 'unrecognized_keys')
    return issue.keys.map((key) => ({
      path: [...path, key],
      message:
        inStep && last === 'schedule' && (key === 'at' || key === 'afterMs')
          ? `a step's schedule has no ${key}: the step's "at" is when it starts`
          : `unknown field ${quotedName(key)}`,
    }));
  if (inStep && last === 'kind' && path.length === 3 && issue.code === 'invalid_value') {
    const kind = valueAt(root, path);
    return [{ path, message: `unknown fault ${quotedName(typeof kind === 'string' ? kind : String(kind))}` }];
  }
  if (inStep && last === 'at' && path.length === 3 && issue.code === 'too_small')
    return [{ path, message: 'a time before the scenario starts (a step is at ≥ 0 ms after the start)' }];
  return [{ path, message: describeIssues([issue])[0]?.message ?? issue.message }];
}

/** What the schema alone cannot say: each kind's parameters, and steps outside the scenario's duration. */
function stepIssues(value: unknown): Issue[] {
  const issues: Issue[] = [];
  const root = value as { steps?: unknown; durationMs?: unknown } | null;
  if (typeof root !== 'object' || root === null || !Array.isArray(root.steps)) return issues;
  const durationMs = typeof root.durationMs === 'number' ? root.durationMs : undefined;
  root.steps.forEach((raw: unknown, index) => {
    if (typeof raw !== 'object' || raw === null) return;
    const step = raw as {
      kind?: unknown;
      params?: unknown;
      at?: unknown;
      schedule?: { durationMs?: unknown };
    };
    if (typeof step.kind === 'string' && Object.hasOwn(FAULT_CATALOGUE, step.kind)) {
      const kind = step.kind as FaultKind;
      const params = FAULT_CATALOGUE[kind].params;
      const result = params.safeParse(step.params ?? {});
      const taken = Object.keys(params.shape);
      const takes = taken.length === 0 ? 'it takes none' : `it takes ${taken.join(', ')}`;
      if (!result.success)
        // Unknown parameters first: a misspelt one usually explains a missing one.
        for (const issue of [...result.error.issues].sort(
          (a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'),
        )) {
          const path = ['steps', index, 'params', ...issue.path.map((p) => p as string | number)];
          if (issue.code === 'unrecognized_keys')
            for (const key of issue.keys)
              issues.push({
                path: [...path, key],
                message: `${kind} takes no parameter ${quotedName(key)} (${takes})`,
              });
          else issues.push({ path, message: describeIssues([issue])[0]?.message ?? issue.message });
        }
    }
    if (durationMs === undefined || typeof step.at !== 'number') return;
    if (step.at >= durationMs)
      issues.push({
        path: ['steps', index, 'at'],
        message: `at ${step.at} ms is not before the scenario's end (durationMs ${durationMs})`,
      });
    const lasts = step.schedule?.durationMs;
    if (typeof lasts === 'number' && step.at < durationMs && step.at + lasts > durationMs)
      issues.push({
        path: ['steps', index, 'schedule', 'durationMs'],
        message: `the fault would hold until ${step.at + lasts} ms, past the scenario's end (durationMs ${durationMs})`,
      });
  });
  return issues;
}

export interface PlayOptions {
  actor: SandboxActor;
  bindings?: ScenarioBindings;
  /** When the scenario starts (epoch ms; default now): a time already passed is refused. */
  startAt?: number;
  /** The file the scenario came from, for errors that name its lines. */
  lines?: Pick<LoadedScenario, 'source' | 'lineOf'>;
}

/**
 * Checks every step against the registry without injecting anything: placeholders bound, the catalogue, the target
 * (it exists, the actor may act on it), and exclusive kinds that would overlap within the scenario or with faults
 * already there. Any problem → one error naming every step at fault; nothing is injected.
 */
export async function prepareScenario(
  sandbox: Sandbox,
  clock: Clock,
  scenario: Scenario,
  options: PlayOptions,
): Promise<{ startedAt: number; prepared: InjectedFault[] }> {
  const where = options.lines ?? { source: 'scenario' };
  const now = clock.now();
  const startedAt = options.startAt ?? now;
  if (startedAt < now - PAST_TOLERANCE_MS)
    throw new GatehouseError('INVALID_REQUEST', 'startAt: the time is in the past.', {
      issues: [{ path: 'startAt', message: 'the time is in the past' }],
    });
  const bindings = options.bindings ?? {};
  const issues: Issue[] = [];
  let code: ErrorCode | undefined;
  const prepared: InjectedFault[] = [];
  const preparedStep: number[] = [];
  for (const [index, step] of scenario.steps.entries()) {
    const target = bind(step.target, bindings);
    if (typeof target === 'string') {
      issues.push({ path: ['steps', index, 'target', 'id'], message: target });
      code ??= 'INVALID_REQUEST';
      continue;
    }
    const condition = FAULT_CATALOGUE[step.kind].mode === 'condition';
    const request = {
      kind: step.kind,
      target,
      params: step.params,
      schedule: {
        ...step.schedule,
        at: new Date(startedAt + step.at).toISOString(),
        // The same scenario and seed draw the same: each step's own seed, from the scenario's.
        seed: step.schedule.seed ?? (scenario.seed + index) % MAX_SEED,
        // A condition holds until the scenario ends unless the step says less.
        ...(condition ? { durationMs: step.schedule.durationMs ?? scenario.durationMs - step.at } : {}),
      },
      note: step.note ?? `scenario ${scenario.name}, step ${index}`.slice(0, 200),
    };
    try {
      prepared.push(await sandbox.prepare(request, options.actor, prepared));
      preparedStep.push(index);
    } catch (error) {
      if (!(error instanceof GatehouseError)) throw error;
      code ??= error.code;
      issues.push(stepError(error, index, step.target, request, prepared, preparedStep));
    }
  }
  if (code !== undefined) throw scenarioError(code, issues, where);
  return { startedAt, prepared };
}

/** Prepares every step (`prepareScenario`), then injects them all as one batch. */
export async function playScenario(
  sandbox: Sandbox,
  clock: Clock,
  scenario: Scenario,
  options: PlayOptions,
): Promise<{ startedAt: string; faults: Fault[] }> {
  const { startedAt, prepared } = await prepareScenario(sandbox, clock, scenario, options);
  const faults = await sandbox.injectPrepared(prepared, options.actor);
  return { startedAt: new Date(startedAt).toISOString(), faults };
}

/** A step's target with its placeholder bound, or why it cannot be. */
function bind(target: FaultTarget, bindings: ScenarioBindings): FaultTarget | string {
  const id = target.id;
  if (id === undefined || !id.startsWith('$')) return target;
  if (!Object.hasOwn(SCENARIO_PLACEHOLDERS, id))
    return `unknown placeholder ${quotedName(id)} (they are ${Object.keys(SCENARIO_PLACEHOLDERS).join(', ')})`;
  const type = SCENARIO_PLACEHOLDERS[id as Placeholder];
  if (type !== target.type) return `${id} names a ${type}, not a ${target.type}`;
  const bound = bindings[type];
  if (bound === undefined)
    return `${id} is not bound: give bindings.${type} (gatehouse sandbox play --bind ${type}=ID)`;
  return { type, id: bound };
}

/** A registry's refusal of one step, said of that step. */
function stepError(
  error: GatehouseError,
  index: number,
  written: FaultTarget,
  request: { kind: FaultKind; target: FaultTarget; schedule: { at: string; durationMs?: number } },
  prepared: readonly InjectedFault[],
  preparedStep: readonly number[],
): Issue {
  const from = written.id !== request.target.id ? ` (bound from ${written.id})` : '';
  if (error.code === 'FAULT_CONFLICT') {
    const startsAt = Date.parse(request.schedule.at);
    const endsAt =
      request.schedule.durationMs === undefined ? Infinity : startsAt + request.schedule.durationMs;
    const clash = prepared.findIndex(
      (other) =>
        other.kind === request.kind &&
        other.target.type === request.target.type &&
        other.target.id === request.target.id &&
        other.startsAt < endsAt &&
        startsAt < (other.endsAt ?? Infinity),
    );
    const on = `${request.target.type}${request.target.id === undefined ? '' : ` ${request.target.id}`}${from}`;
    const exclusive = EXCLUSIVE_FAULT_KINDS.has(request.kind) ? ' (one at a time on a target)' : '';
    return {
      path: ['steps', index],
      message:
        clash >= 0
          ? `${request.kind} on ${on} overlaps steps[${preparedStep[clash]}]${exclusive}`
          : `${request.kind} already acts on ${on} then${exclusive}: clear it first`,
    };
  }
  const issue = (error.details?.issues as { path?: string }[] | undefined)?.[0]?.path;
  const path = error.code === 'FORBIDDEN' ? 'target' : (issue ?? '');
  const message = error.message.startsWith(`${path}: `)
    ? error.message.slice(path.length + 2)
    : error.message;
  return {
    path: ['steps', index, ...(path === '' ? [] : path.split('.'))],
    message: `${message.replace(/\.$/, '')}${path.startsWith('target') ? from : ''}`,
  };
}

/** One error for a scenario's problems: the first in the message, all of them (with their lines) in details. */
function scenarioError(
  code: ErrorCode,
  issues: readonly Issue[],
  where: { source: string; lineOf?: (path: JsonPath) => number },
): GatehouseError {
  const lined = issues
    .map((issue) => ({ ...issue, line: where.lineOf?.(issue.path) }))
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  const told = lined.map((i) => {
    const at = i.line === undefined ? '' : `${where.source}:${i.line} `;
    const path = formatPath(i.path);
    return `${at}${path}${path === '' ? '' : ': '}${i.message}`;
  });
  const more = told.length - 1;
  return new GatehouseError(code, `${told[0] ?? ''}${more > 0 ? ` (and ${more} more)` : ''}`, {
    issues: lined.slice(0, 50).map((i, n) => ({
      path: i.path.join('.'),
      ...(i.line === undefined ? {} : { line: i.line }),
      message: i.message,
      text: told[n],
    })),
  });
}

/**
 * An error of the play API (paths within the scenario, no lines) told with the file's lines, as `parseScenario`
 * tells its own. Other errors are returned as they are.
 */
export function withScenarioLines(error: unknown, loaded: LoadedScenario): unknown {
  if (!(error instanceof GatehouseError)) return error;
  const issues = error.details?.issues;
  if (!Array.isArray(issues) || issues.length === 0) return error;
  const steps = issues.filter(
    (i): i is { path: string; message: string } =>
      typeof i?.path === 'string' && typeof i?.message === 'string' && i.path.startsWith('steps'),
  );
  if (steps.length !== issues.length) return error;
  const path = (dotted: string) => dotted.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  return scenarioError(
    error.code,
    steps.map((i) => ({ path: path(i.path), message: i.message })),
    loaded,
  );
}

function valueAt(root: unknown, path: JsonPath): unknown {
  let node = root;
  for (const part of path) node = (node as Record<string | number, unknown> | undefined)?.[part];
  return node;
}

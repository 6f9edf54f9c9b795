/**
 * @module cli/sandbox
 * `gatehouse sandbox inject|list|clear|play`: the failure sandbox of a running gateway, driven by its operator
 * through the admin API (`/v1/admin/sandbox/faults`, `/v1/admin/sandbox/scenarios`; docs/sandbox.md).
 *
 * The operator token comes from `--token-file` (a file of mode 0600, as every secret file the CLI reads) or the
 * environment's `GATEHOUSE_ADMIN_TOKEN`; it is sent only over https, or over http to a gateway on this machine. A
 * scenario file is checked here first, so its errors name its lines before anything is sent; the gateway's own
 * refusals of its steps (a target that does not exist, an overlap) are told with the same lines. Every error prints
 * its code (`error INVALID_REQUEST: …`) and the command exits non-zero.
 */
import { FAULT_KINDS, FAULT_TARGET_TYPES, type Fault, type FaultKind } from '@gatehouse/protocol';
import type { Command } from 'commander';
import { readPrivateFile } from '../app/cpapi.js';
import { isLoopbackHost } from '../config/index.js';
import { ERROR_CATALOGUE, type ErrorCode, type ErrorDetails, GatehouseError } from '../core/index.js';
import { type LoadedScenario, loadScenario, withScenarioLines } from '../sandbox/scenarios.js';
import { printable } from './client.js';

export interface GatewayFlags {
  gateway: string;
  tokenFile?: string;
}

/** The most of an answer read: a list of 500 faults is a few hundred kilobytes. */
const MAX_ANSWER_BYTES = 4_000_000;
const FAULTS = '/v1/admin/sandbox/faults';

/** The admin API of a running gateway, with the operator token. */
export class OperatorApi {
  readonly base: string;
  readonly #token: string;

  constructor(flags: GatewayFlags, env: NodeJS.ProcessEnv = process.env) {
    this.base = gatewayBase(flags.gateway);
    const token =
      flags.tokenFile === undefined ? env.GATEHOUSE_ADMIN_TOKEN : readPrivateFile(flags.tokenFile);
    if (token === undefined || token.trim() === '')
      throw new Error('give the operator token: --token-file FILE (mode 0600) or GATEHOUSE_ADMIN_TOKEN');
    this.#token = token.trim();
  }

  /** A JSON call; an error answer becomes the gateway's coded error. */
  async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          authorization: `Bearer ${this.#token}`,
          'user-agent': 'gatehouse-cli',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'manual',
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
      throw new Error(`cannot reach the gateway at ${this.base}: ${cause}`);
    }
    const text = await response.text();
    if (text.length > MAX_ANSWER_BYTES)
      throw new Error(`the gateway's answer is too large (${text.length} bytes)`);
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = {};
    }
    if (response.status >= 200 && response.status < 300) return parsed as T;
    if (response.status === 404 && path.startsWith('/v1/admin/sandbox/'))
      throw new GatehouseError(
        'NOT_FOUND',
        `${this.base} serves no failure sandbox: it is off there (sandbox.enabled), or no admin API token is set (secrets.adminApiToken)`,
      );
    throw remoteError(response.status, parsed);
  }
}

/** The base URL: https, or http to a gateway on this machine only (the operator token is sent to it). */
function gatewayBase(raw: string): string {
  if (!URL.canParse(raw)) throw new Error(`--gateway ${raw} is not a URL`);
  const url = new URL(raw);
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new Error(`--gateway ${raw}: give an https:// URL`);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    throw new Error(
      `--gateway ${raw}: the operator token is sent to it, so http:// only for a gateway on this machine; give an https:// URL`,
    );
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
    throw new Error(`--gateway ${raw}: give the gateway's base URL only`);
  return url.href.replace(/\/+$/, '');
}

/** The gateway's error envelope as an error of the same code; its text made harmless for a terminal. */
function remoteError(status: number, body: unknown): Error {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: ErrorDetails } })?.error;
  if (typeof error?.code !== 'string') return new Error(`the gateway answered HTTP ${status}`);
  const message = printable(String(error.message ?? ''));
  const details = error.details;
  const issues = details?.issues;
  return error.code in ERROR_CATALOGUE
    ? new GatehouseError(
        error.code as ErrorCode,
        message,
        Array.isArray(issues)
          ? {
              ...details,
              issues: issues.map((i: { path?: unknown; message?: unknown; text?: unknown }) => ({
                path: printable(String(i?.path ?? '')),
                message: printable(String(i?.message ?? '')),
                ...(typeof i?.text === 'string' ? { text: printable(i.text) } : {}),
              })),
            }
          : details,
      )
    : new Error(`${printable(error.code)}: ${message}`);
}

/** `TYPE[:ID]`: `all`, `user:usr_…`, `instrument:AAPL`. */
export function parseTarget(value: string): { type: string; id?: string } {
  const at = value.indexOf(':');
  const type = at < 0 ? value : value.slice(0, at);
  if (!(FAULT_TARGET_TYPES as readonly string[]).includes(type))
    throw new Error(`--target ${value}: a target is ${FAULT_TARGET_TYPES.join(' | ')}, with :ID but for all`);
  return at < 0 ? { type } : { type, id: value.slice(at + 1) };
}

/** `k=v` pairs: a value that reads as JSON (a number, true, false) is that, any other is text. */
function pairs(flag: string) {
  return (value: string, previous: Record<string, unknown> = {}): Record<string, unknown> => {
    const at = value.indexOf('=');
    if (at <= 0) throw new Error(`${flag} ${value}: give KEY=VALUE`);
    const raw = value.slice(at + 1);
    let parsed: unknown = raw;
    if (/^(-?\d+(\.\d+)?|true|false)$/.test(raw)) parsed = JSON.parse(raw);
    return { ...previous, [value.slice(0, at)]: parsed };
  };
}

const number = (flag: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new Error(`${flag} ${value}: give a number`);
  return n;
};

export interface InjectFlags extends GatewayFlags {
  target: { type: string; id?: string };
  param?: Record<string, unknown>;
  after?: number;
  duration?: number;
  afterRequests?: number;
  probability?: number;
  seed?: number;
  note?: string;
  json?: boolean;
}

/** The fault request of `sandbox inject`. */
export function faultRequestOf(kind: string, flags: InjectFlags) {
  if ((flags.probability === undefined) !== (flags.seed === undefined))
    throw new Error('--probability and --seed go together (the same seed, the same draws)');
  if (!(FAULT_KINDS as readonly string[]).includes(kind))
    throw new GatehouseError(
      'INVALID_REQUEST',
      `kind: unknown fault "${printable(kind)}" (they are ${FAULT_KINDS.join(', ')})`,
    );
  return {
    kind: kind as FaultKind,
    target: flags.target,
    params: flags.param ?? {},
    schedule: {
      ...(flags.after === undefined ? {} : { afterMs: flags.after }),
      ...(flags.duration === undefined ? {} : { durationMs: flags.duration }),
      ...(flags.afterRequests === undefined ? {} : { afterRequests: flags.afterRequests }),
      ...(flags.probability === undefined ? {} : { probability: flags.probability }),
      ...(flags.seed === undefined ? {} : { seed: flags.seed }),
    },
    ...(flags.note === undefined ? {} : { note: flags.note }),
  };
}

/** One line a fault: id, state, kind, target, start, end, hits. */
export function faultLine(f: Fault): string {
  const target = f.target.id === undefined ? f.target.type : `${f.target.type}:${f.target.id}`;
  return [f.id, f.state.padEnd(9), f.kind.padEnd(26), target, f.startsAt, f.endsAt ?? '-', `hits ${f.hits}`]
    .map((part) => printable(part))
    .join('  ');
}

/** `user=usr_1`, `client=cli_1`: what the scenario's placeholders stand for. */
export function parseBindings(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const [key, ...rest] = value.split('=');
    const id = rest.join('=');
    if (!['user', 'client', 'account', 'session'].includes(key ?? '') || id === '')
      throw new Error(`--bind ${value}: give user=ID, client=ID, account=ID or session=ID`);
    out[key as string] = id;
  }
  return out;
}

/** Plays a scenario file or library scenario on the gateway: checked here first, then as one batch there. */
export async function playRemote(
  api: OperatorApi,
  fileOrName: string,
  bindings: Record<string, string>,
): Promise<{ loaded: LoadedScenario; startedAt: string; faults: Fault[] }> {
  const loaded = loadScenario(fileOrName);
  try {
    const played = await api.call<{ startedAt: string; faults: Fault[] }>(
      'POST',
      '/v1/admin/sandbox/scenarios',
      {
        scenario: loaded.scenario,
        bindings,
      },
    );
    return { loaded, ...played };
  } catch (error) {
    throw withScenarioLines(error, loaded);
  }
}

/** A scenario's error with every problem on its own line (`file:line path: what`), the first in the message. */
function everyLine(error: unknown): unknown {
  if (!(error instanceof GatehouseError)) return error;
  const issues = error.details?.issues;
  if (!Array.isArray(issues)) return error;
  const lines = issues
    .map((i: { text?: unknown }) => i?.text)
    .filter((t): t is string => typeof t === 'string');
  return lines.length > 1 ? new GatehouseError(error.code, lines.join('\n  '), error.details) : error;
}

const write = (text: string) => process.stdout.write(`${text}\n`);

export function registerSandboxCommands(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('the failure sandbox of a running gateway, as its operator (docs/sandbox.md)');
  const withGateway = (command: Command) =>
    command
      .option('--gateway <url>', 'the gateway', 'http://localhost:8080')
      .option(
        '--token-file <file>',
        'the operator token (secrets.adminApiToken), in a file of mode 0600 (or GATEHOUSE_ADMIN_TOKEN)',
      )
      .option('--json', 'print JSON');

  withGateway(
    sandbox
      .command('inject')
      .description('inject a fault; without --after it starts now (an action is done when this returns)')
      .argument('<kind>', `the fault: ${FAULT_KINDS.join(', ')}`),
  )
    .requiredOption(
      '--target <type[:id]>',
      `${FAULT_TARGET_TYPES.join(' | ')}, with :ID but for all`,
      parseTarget,
    )
    .option('--param <key=value>', 'a parameter of the kind (repeat it)', pairs('--param'))
    .option('--after <ms>', 'start this many milliseconds from now', number('--after'))
    .option('--duration <ms>', 'a condition holds this long (default: until cleared)', number('--duration'))
    .option('--after-requests <n>', 'act only after this many matching requests', number('--after-requests'))
    .option(
      '--probability <p>',
      'act on each match with this probability (0–1), with --seed',
      number('--probability'),
    )
    .option('--seed <s>', 'the seed of the draws', number('--seed'))
    .option('--note <text>', 'a note kept with the fault')
    .action(async (kind: string, flags: InjectFlags) => {
      const fault = await new OperatorApi(flags).call<Fault>('POST', FAULTS, faultRequestOf(kind, flags));
      write(flags.json === true ? JSON.stringify(fault) : `injected ${faultLine(fault)}`);
    });

  withGateway(sandbox.command('list').description('the faults, newest first'))
    .option('--active', 'only the scheduled and active ones')
    .action(async (flags: GatewayFlags & { active?: boolean; json?: boolean }) => {
      const { faults } = await new OperatorApi(flags).call<{ faults: Fault[] }>(
        'GET',
        `${FAULTS}?state=${flags.active === true ? 'active' : 'all'}`,
      );
      if (flags.json === true) write(JSON.stringify({ faults }));
      else if (faults.length === 0) write(flags.active === true ? 'no active faults' : 'no faults');
      else for (const fault of faults) write(faultLine(fault));
    });

  withGateway(
    sandbox
      .command('clear')
      .description('clear one fault, or every scheduled and active one')
      .argument('[id]', 'the fault (default: all of them)'),
  ).action(async (id: string | undefined, flags: GatewayFlags & { json?: boolean }) => {
    const query = id === undefined ? '' : `?id=${encodeURIComponent(id)}`;
    const { cleared } = await new OperatorApi(flags).call<{ cleared: number }>('DELETE', `${FAULTS}${query}`);
    write(flags.json === true ? JSON.stringify({ cleared }) : `cleared ${cleared} fault(s)`);
  });

  withGateway(
    sandbox
      .command('play')
      .description(
        'play a scenario: every step checked before any is injected, then injected as one batch on the gateway clock',
      )
      .argument(
        '<file|name>',
        'a scenario file, or the name of a library scenario (packages/gateway/scenarios)',
      ),
  )
    .option('--bind <name=id...>', 'what $user, $client, $account, $session stand for: user=ID client=ID …')
    .action(async (fileOrName: string, flags: GatewayFlags & { bind?: string[]; json?: boolean }) => {
      const bindings = parseBindings(flags.bind ?? []);
      try {
        const played = await playRemote(new OperatorApi(flags), fileOrName, bindings);
        if (flags.json === true) {
          write(JSON.stringify({ startedAt: played.startedAt, faults: played.faults }));
          return;
        }
        write(
          `playing ${played.loaded.scenario.name} from ${played.startedAt} (${played.faults.length} faults)`,
        );
        for (const fault of played.faults) write(faultLine(fault));
      } catch (error) {
        throw everyLine(error);
      }
    });
}

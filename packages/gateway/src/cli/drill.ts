/**
 * @module cli/drill
 * `gatehouse drill --scenario FILE|NAME [--gateway URL] [--out DIR] [--seed N] -- <command that starts the bot>`:
 * proves a bot against a scenario of the failure sandbox and grades it by what the gateway saw (docs/sandbox.md,
 * "Drills").
 *
 * 1. The gateway: one started in this process (`cli/drill-gateway.ts`: SQLite in a temporary folder, the sandbox on,
 *    an operator token of its own, 127.0.0.1 on a free port; a sandbox user, a paper account and the bot's personal
 *    API client provisioned), or the one at `--gateway` (the operator's token; `--client FILE`).
 * 2. The bot: the command after `--`, started with its identity in its environment (`botEnvironment`); its output
 *    goes to `bot.log` in `--out`.
 * 3. A recording of the bot's client and account starts (`POST /v1/admin/sandbox/recordings`); the drill waits
 *    until the bot is trading — its first order accepted — or the warm-up runs out (`--warmup-ms`, then it plays
 *    anyway: the card shows a bot that never traded).
 * 4. The scenario is played as one checked batch (`POST /v1/admin/sandbox/scenarios`, its placeholders bound to
 *    the bot's user, client, account and session), and runs its `durationMs`.
 * 5. The bot is stopped (SIGTERM, SIGKILL after `--grace-ms`), the recording stopped and read, graded, and written
 *    as `report.json`, `report.xml` (JUnit) and `report.html`; a summary is printed. The exit status is 1 when a
 *    graded item failed (2 when the drill itself could not run).
 *
 * The timeline is the scenario's, on the gateway's clock, and every draw is seeded: the same scenario, seed and
 * bot give the same grades.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type DrillReport,
  type Recording,
  type RecordingStarted,
  recordingSchema,
  recordingStartedSchema,
  type Scenario,
} from '@gatehouse/protocol';
import type { Command } from 'commander';
import { ERROR_CATALOGUE, type ErrorCode, GatehouseError } from '../core/index.js';
import { gradeRecording } from '../sandbox/drill/grade.js';
import { renderHtmlReport } from '../sandbox/drill/html.js';
import { renderJunitReport } from '../sandbox/drill/junit.js';
import { type LoadedScenario, loadScenario, withScenarioLines } from '../sandbox/scenarios.js';
import { printable } from './client.js';
import { type DrillGateway, remoteGateway, startLocalGateway } from './drill-gateway.js';

export interface DrillOptions {
  scenario: string;
  /** The bot's command and its arguments (what follows `--`). */
  command: string[];
  gateway?: string;
  tokenFile?: string;
  client?: string;
  out: string;
  seed?: number;
  /** How long to wait for the bot's first accepted order before playing anyway. */
  warmupMs: number;
  /** How long the bot has to leave after SIGTERM before SIGKILL. */
  graceMs: number;
}

export interface DrillOutcome {
  report: DrillReport;
  /** 0: every graded item passed; 1: one failed. */
  exitCode: number;
  files: { json: string; junit: string; html: string; botLog: string };
}

const SECOND = 1_000;
const POLL_MS = 200;
const int = (what: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new Error(`${what} is a whole number`);
  return Number(v);
};

export function registerDrillCommand(program: Command): void {
  program
    .command('drill')
    .description(
      'prove a bot against a failure scenario: start (or use) a gateway, hand the bot its identity in environment variables, play the scenario, stop the bot, and grade what the gateway saw (report.json, report.xml, report.html); exits 1 when an item fails',
    )
    .requiredOption('--scenario <file|name>', 'a scenario file, or the name of one in the library')
    .option('--gateway <url>', 'a running gateway (default: one started in this process)')
    .option(
      '--token-file <file>',
      'with --gateway: the operator token, in a file of mode 0600 (or GATEHOUSE_ADMIN_TOKEN)',
    )
    .option(
      '--client <file>',
      "with --gateway: the bot's API client, as `gatehouse client create` printed it",
    )
    .option('--out <dir>', 'where the report goes', './drill-report')
    .option('--seed <n>', "the scenario's seed, instead of its own", int('--seed'))
    .option(
      '--warmup-ms <ms>',
      'how long to wait for the bot to trade before playing',
      int('--warmup-ms'),
      20_000,
    )
    .option('--grace-ms <ms>', 'how long the bot has to leave after SIGTERM', int('--grace-ms'), 5_000)
    .argument('<command...>', 'the command that starts the bot (after --)')
    .action(async (command: string[], flags: Omit<DrillOptions, 'command'>) => {
      const outcome = await runDrill({ ...flags, command }, (line) => process.stdout.write(`${line}\n`));
      process.exitCode = outcome.exitCode;
    });
}

/** The bot's environment: who it is and where (docs/sandbox.md lists each variable). */
export function botEnvironment(
  gateway: DrillGateway,
  scenario: Scenario,
  tokenFile: string,
): Record<string, string> {
  const { client } = gateway;
  return {
    GATEHOUSE_URL: gateway.url,
    GATEHOUSE_ISSUER: client.issuer,
    GATEHOUSE_CLIENT_ID: client.clientId,
    GATEHOUSE_CLIENT_KEY_FILE: resolve(client.keyFile),
    GATEHOUSE_ACCOUNT: client.accounts[0] as string,
    GATEHOUSE_TOKEN_FILE: tokenFile,
    GATEHOUSE_DRILL: '1',
    GATEHOUSE_DRILL_SCENARIO: scenario.name,
    GATEHOUSE_DRILL_SEED: String(scenario.seed),
  };
}

/** Runs one drill (see the module); `say` prints the progress and the summary. */
export async function runDrill(options: DrillOptions, say: (line: string) => void): Promise<DrillOutcome> {
  if (options.command.length === 0)
    throw new Error('give the command that starts the bot after --, e.g. -- node bot.mjs');
  const loaded = loadScenario(options.scenario);
  const scenario: Scenario =
    options.seed === undefined ? loaded.scenario : { ...loaded.scenario, seed: options.seed };
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'gatehouse-drill-'));
  const botLog = join(out, 'bot.log');
  let gateway: DrillGateway | undefined;
  let bot: ChildProcess | undefined;
  try {
    gateway =
      options.gateway === undefined
        ? await startLocalGateway(work)
        : remoteGateway({ url: options.gateway, tokenFile: options.tokenFile, clientFile: options.client });
    const api = new OperatorApi(gateway.url, gateway.operatorToken);
    const accountId = gateway.client.accounts[0] as string;
    say(
      `drill ${scenario.name} (seed ${scenario.seed}) on ${gateway.url}, client ${gateway.client.clientId}`,
    );
    const started = recordingStartedSchema.parse(
      await api.call<RecordingStarted>('POST', '/v1/admin/sandbox/recordings', {
        clientId: gateway.client.clientId,
        accountId,
      }),
    );
    const recordingPath = `/v1/admin/sandbox/recordings/${encodeURIComponent(started.id)}`;
    bot = startBot(options.command, botEnvironment(gateway, scenario, join(work, 'bot-tokens.json')), botLog);
    const exited = exitOf(bot);
    const warm = await warmUp(api, recordingPath, options.warmupMs, exited);
    say(
      warm.trading
        ? 'the bot is trading: playing the scenario'
        : `the bot is not trading (${warm.why}): playing anyway`,
    );
    const faultIds = await play(api, loaded, scenario, {
      user: started.subject.userId,
      client: gateway.client.clientId,
      account: accountId,
      ...(warm.sessionId === undefined ? {} : { session: warm.sessionId }),
    });
    await Promise.race([sleep(scenario.durationMs), exited]);
    await stopBot(bot, exited, options.graceMs);
    await api.call('DELETE', recordingPath);
    const recording = recordingSchema.parse(await api.call<Recording>('GET', recordingPath));
    const report = gradeRecording(recording, {
      scenario: { name: scenario.name, seed: scenario.seed },
      faultIds,
    });
    const files = {
      json: join(out, 'report.json'),
      junit: join(out, 'report.xml'),
      html: join(out, 'report.html'),
      botLog,
    };
    writeFileSync(files.json, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(files.junit, renderJunitReport(report));
    writeFileSync(files.html, renderHtmlReport(report));
    for (const line of summaryLines(report)) say(line);
    say(`report: ${files.html}`);
    return { report, exitCode: report.summary.ok ? 0 : 1, files };
  } finally {
    if (bot !== undefined) signalBot(bot, 'SIGKILL');
    await gateway?.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** The summary the command prints: one line per item that did not pass, then the count. */
export function summaryLines(report: DrillReport): string[] {
  const { pass, fail, na } = report.summary;
  const lines = report.items
    .filter((item) => item.verdict === 'fail')
    .map(
      (item) =>
        `  FAIL ${item.id.split('@')[0]}${item.faultKind === null ? '' : ` (${item.faultKind})`}: ${item.detail}`,
    );
  lines.push(
    `${report.summary.ok ? 'PASS' : 'FAIL'} ${report.name}: ${pass} passed, ${fail} failed, ${na} n/a`,
  );
  return lines;
}

/**
 * Starts the bot in a process group of its own: the command is often a launcher (`npx tsx bot.ts`) whose child is
 * the bot, and a signal to the launcher alone would leave the bot running (and holding the drill's pipes open).
 * The drill signals the whole group, and kills it if the drill itself is interrupted.
 */
function startBot(command: string[], env: Record<string, string>, logFile: string): ChildProcess {
  const log = createWriteStream(logFile, { flags: 'w' });
  const child = spawn(command[0] as string, command.slice(1), {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: process.platform !== 'win32',
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.once('close', () => log.end());
  const interrupted = (signal: NodeJS.Signals) => {
    signalBot(child, 'SIGKILL');
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  child.once('exit', () => {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  });
  return child;
}

/** Sends `signal` to the bot's process group (the launcher and what it started); to the bot alone where none. */
function signalBot(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (process.platform === 'win32') child.kill(signal);
    else process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** Resolves with the bot's exit (code or signal), whenever it comes; a bot that cannot start is an exit too. */
function exitOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve(`could not start: ${error.message}`));
    child.once('exit', (code, signal) => resolve(signal === null ? `exit ${code}` : `killed by ${signal}`));
  });
}

/**
 * SIGTERM to the bot's process group, then SIGKILL after the grace; resolves once the bot is gone. Whatever of the
 * group outlived the bot's own exit is killed too.
 */
async function stopBot(child: ChildProcess, exited: Promise<string>, graceMs: number): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    signalBot(child, 'SIGTERM');
    const left = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!left) {
      signalBot(child, 'SIGKILL');
      await exited;
    }
  }
  signalBot(child, 'SIGKILL');
}

/**
 * Waits for the bot's first accepted order (it is trading), reading the recording; the session it placed it from
 * binds `$session`. Gives up after `warmupMs`, or when the bot exits.
 */
async function warmUp(
  api: OperatorApi,
  path: string,
  warmupMs: number,
  exited: Promise<string>,
): Promise<{ trading: boolean; why?: string; sessionId?: string }> {
  const deadline = Date.now() + warmupMs;
  let gone: string | undefined;
  exited.then((how) => {
    gone = how;
  });
  let sessionId: string | undefined;
  for (;;) {
    const recording = recordingSchema.parse(await api.call<Recording>('GET', path));
    sessionId = recording.sessions.at(-1) ?? sessionId;
    const first = recording.placements.find((p) => p.outcome === 'accepted' || p.outcome === 'existing');
    if (first !== undefined) return { trading: true, sessionId: first.sessionId ?? sessionId };
    if (gone !== undefined)
      return {
        trading: false,
        why: `the bot is gone: ${gone}`,
        ...(sessionId === undefined ? {} : { sessionId }),
      };
    if (Date.now() >= deadline)
      return {
        trading: false,
        why: `no order accepted within ${warmupMs / SECOND} s`,
        ...(sessionId === undefined ? {} : { sessionId }),
      };
    await sleep(POLL_MS);
  }
}

/**
 * Plays the scenario as one batch; answers its faults' ids (the ones graded). An error in it is told with the
 * file's lines.
 */
async function play(
  api: OperatorApi,
  loaded: LoadedScenario,
  scenario: Scenario,
  bindings: Record<string, string>,
): Promise<string[]> {
  try {
    const played = await api.call<{ faults: { id: string }[] }>('POST', '/v1/admin/sandbox/scenarios', {
      scenario,
      bindings,
    });
    return played.faults.map((f) => f.id);
  } catch (error) {
    throw withScenarioLines(error, loaded);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** JSON calls to the admin API with the operator's bearer token; an error envelope becomes a `GatehouseError`. */
class OperatorApi {
  constructor(
    readonly base: string,
    readonly token: string,
  ) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30 * SECOND),
      });
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
      throw new Error(`cannot reach the gateway at ${this.base}: ${cause}`);
    }
    const text = await response.text();
    let parsed: unknown = {};
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = {};
    }
    if (response.ok) return parsed as T;
    const error = (
      parsed as { error?: { code?: unknown; message?: unknown; details?: Record<string, unknown> } }
    ).error;
    const message = `${method} ${path}: ${printable(String(error?.message ?? `HTTP ${response.status}`))}`;
    if (response.status === 404 && error === undefined)
      throw new Error(`${message} (is the sandbox on, and the admin API token set, on that gateway?)`);
    if (typeof error?.code === 'string' && error.code in ERROR_CATALOGUE)
      throw new GatehouseError(error.code as ErrorCode, message, error.details);
    throw new Error(message);
  }
}

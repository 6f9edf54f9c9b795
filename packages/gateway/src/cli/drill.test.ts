/**
 * `gatehouse drill` in this process (`runDrill`): its bad inputs stop it before anything starts, a remote gateway
 * needs the operator's token and the bot's client, and a whole drill — a gateway started here, the naive example
 * bot (plain fetch, so no build is needed), a short scenario of its own — writes the three reports, prints a summary
 * and gives the same grades when run twice.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DrillReport } from '@gatehouse/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { botEnvironment, runDrill, summaryLines } from './drill.js';
import { remoteGateway } from './drill-gateway.js';

const root = new URL('../../../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'gh-drill-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const naiveBot = [process.execPath, '--import', 'tsx', join(root, 'examples/naive-bot/bot.ts')];
const options = { out: join(work, 'out'), warmupMs: 10_000, graceMs: 2_000 };

/** A short scenario: the bot's token expires early two seconds after it first traded. */
const scenarioFile = join(work, 'short.json');
writeFileSync(
  scenarioFile,
  JSON.stringify({
    version: 1,
    name: 'short-token-expiry',
    description: 'the token expires early once',
    seed: 7,
    durationMs: 4000,
    steps: [{ at: 1500, kind: 'token.expired_early', target: { type: 'client', id: '$client' } }],
  }),
);

describe('gatehouse drill: bad input', () => {
  it('names the library when the scenario is neither a file nor a library name', async () => {
    await expect(
      runDrill({ ...options, scenario: 'no-such-scenario', command: naiveBot }, () => {}),
    ).rejects.toThrow(/no library scenario of that name \(the library: .*competing-login-from-phone/);
  });

  it('names the line of a scenario that does not check, before a gateway or a bot starts', async () => {
    const bad = join(work, 'bad.json');
    writeFileSync(
      bad,
      '{\n  "version": 1,\n  "name": "bad",\n  "description": "",\n  "seed": 1,\n  "durationMs": 5000,\n  "steps": [\n    { "at": 0, "kind": "push.exploded", "target": { "type": "all" } }\n  ]\n}\n',
    );
    const said: string[] = [];
    await expect(
      runDrill({ ...options, scenario: bad, command: naiveBot }, (l) => said.push(l)),
    ).rejects.toThrow(/bad\.json:8 steps\[0\]\.kind: unknown fault "push\.exploded"/);
    expect(said).toEqual([]);
  });

  it('needs the command that starts the bot', async () => {
    await expect(runDrill({ ...options, scenario: scenarioFile, command: [] }, () => {})).rejects.toThrow(
      /give the command that starts the bot after --/,
    );
  });

  it('needs the operator token and the bot client for a gateway elsewhere', () => {
    const saved = process.env.GATEHOUSE_ADMIN_TOKEN;
    delete process.env.GATEHOUSE_ADMIN_TOKEN;
    try {
      expect(() =>
        remoteGateway({ url: 'http://127.0.0.1:1', tokenFile: undefined, clientFile: undefined }),
      ).toThrow(/GATEHOUSE_ADMIN_TOKEN or give --token-file/);
      process.env.GATEHOUSE_ADMIN_TOKEN = 'x'.repeat(40);
      expect(() =>
        remoteGateway({ url: 'http://127.0.0.1:1', tokenFile: undefined, clientFile: undefined }),
      ).toThrow(/--client FILE/);
      const client = join(work, 'client.json');
      writeFileSync(
        client,
        JSON.stringify({ clientId: 'cli_1', issuer: 'http://127.0.0.1:1', keyFile: 'k.json' }),
      );
      expect(() =>
        remoteGateway({ url: 'http://127.0.0.1:1/', tokenFile: undefined, clientFile: client }),
      ).toThrow(/names no account/);
      writeFileSync(
        client,
        JSON.stringify({ clientId: 'cli_1', issuer: 'i', keyFile: 'k.json', accounts: ['DU1'] }),
      );
      const gateway = remoteGateway({ url: 'http://127.0.0.1:1/', tokenFile: undefined, clientFile: client });
      expect(gateway).toMatchObject({ url: 'http://127.0.0.1:1', local: false, userId: undefined });
      const env = botEnvironment(gateway, { name: 's', seed: 3 } as never, '/tmp/tokens.json');
      expect(env).toMatchObject({
        GATEHOUSE_URL: 'http://127.0.0.1:1',
        GATEHOUSE_CLIENT_ID: 'cli_1',
        GATEHOUSE_ACCOUNT: 'DU1',
        GATEHOUSE_TOKEN_FILE: '/tmp/tokens.json',
        GATEHOUSE_DRILL: '1',
        GATEHOUSE_DRILL_SEED: '3',
      });
      // The operator's token is the drill's, never the bot's.
      expect(Object.values(env)).not.toContain(process.env.GATEHOUSE_ADMIN_TOKEN);
    } finally {
      if (saved === undefined) delete process.env.GATEHOUSE_ADMIN_TOKEN;
      else process.env.GATEHOUSE_ADMIN_TOKEN = saved;
    }
  });
});

describe('gatehouse drill: a whole drill', () => {
  it('grades the naive bot, writes the reports, and grades the same drill twice the same', async () => {
    const drill = async (n: number) => {
      const said: string[] = [];
      const out = join(work, `run-${n}`);
      const outcome = await runDrill({ ...options, out, scenario: scenarioFile, command: naiveBot }, (l) =>
        said.push(l),
      );
      return { outcome, said, out };
    };
    const first = await drill(1);
    const { report } = first.outcome;
    expect(first.said[0]).toMatch(
      /^drill short-token-expiry \(seed 7\) on http:\/\/127\.0\.0\.1:\d+, client cli_/,
    );
    expect(first.said).toContain('the bot is trading: playing the scenario');
    expect(report.scenario).toEqual({ name: 'short-token-expiry', seed: 7 });
    expect(report.recording.placements.some((p) => p.outcome === 'accepted')).toBe(true);
    expect(report.recording.faults.map((f) => f.kind)).toEqual(['token.expired_early']);
    // The naive bot arms no dead-man switch: that item fails, and so does the drill.
    expect(report.items.find((i) => i.check === 'dead_man_armed')?.verdict).toBe('fail');
    expect(first.outcome.exitCode).toBe(1);
    expect(first.said).toContain(summaryLines(report).at(-1));
    const written = JSON.parse(readFileSync(join(first.out, 'report.json'), 'utf8')) as DrillReport;
    expect(written.summary).toEqual(report.summary);
    expect(readFileSync(join(first.out, 'report.xml'), 'utf8')).toContain('<testsuite');
    expect(readFileSync(join(first.out, 'report.html'), 'utf8')).toContain('<svg');
    expect(readFileSync(join(first.out, 'bot.log'), 'utf8')).toContain('[naive-bot] started');

    const again = await drill(2);
    const grades = (r: DrillReport) =>
      r.items.map((i) => `${i.check}@${i.faultKind ?? ''}: ${i.verdict}`).sort();
    expect(grades(again.outcome.report)).toEqual(grades(report));
    expect(again.outcome.exitCode).toBe(first.outcome.exitCode);
  }, 90_000);

  it('stops the whole bot a launcher started, and fails a bot that never traded', async () => {
    // A launcher (as `npx tsx bot.ts` is) whose child ignores SIGTERM and never trades: a signal to the launcher
    // alone would leave the child running, holding the drill's pipes open.
    const pidFile = join(work, 'child.pid');
    const child = `process.on('SIGTERM', () => {}); require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000);`;
    const launcher = [
      '/bin/sh',
      '-c',
      `${JSON.stringify(process.execPath)} -e ${JSON.stringify(child)} & wait`,
    ];
    const started = Date.now();
    const outcome = await runDrill(
      { ...options, out: join(work, 'launcher'), warmupMs: 1_000, scenario: scenarioFile, command: launcher },
      () => {},
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const alive = () => {
      try {
        process.kill(pid, 0);
        return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z'); // a zombie is gone
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && alive(); i += 1) await new Promise((r) => setTimeout(r, 100));
    expect(alive()).toBe(false); // the launcher's child is gone
    expect(outcome.report.items.find((i) => i.check === 'traded')).toMatchObject({
      verdict: 'fail',
      figure: 0,
    });
    expect(outcome.exitCode).toBe(1);
  }, 60_000);
});

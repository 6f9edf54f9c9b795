/**
 * @gatehouse/sdk installed as a bot author installs it: the `npm pack` tarballs of @gatehouse/protocol and
 * @gatehouse/sdk (what `npm run pack:sdk` writes) installed together into an empty project outside this repository,
 * and a plain JavaScript bot there, importing only '@gatehouse/sdk' and '@gatehouse/sdk/node', that authenticates
 * against a gateway, places an order, reads it back and exits 0 only if its invariants held.
 *
 * Needs the built packages (`npm install` builds them; built here when missing), npm on PATH and the npm registry
 * for the SDK's one dependency from outside (zod). Nothing missing is skipped: it fails, saying what is missing.
 */
import { execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ALICE, loginAs } from '../packages/gateway/src/test-support/gateway.js';
import { registerBot } from '../packages/gateway/src/test-support/program.js';
import { type LiveGateway, startLiveGateway } from './support/live-gateway.js';

const root = new URL('..', import.meta.url).pathname;
const ACCOUNT = 'DU1000001';
const PACKAGES = ['packages/protocol', 'packages/sdk'];

/** Runs a command to its end within `timeoutMs`; rejects with its output when it fails or takes longer. */
function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) resolve(stdout);
        else
          reject(
            new Error(`${command} ${args.join(' ')} failed (${error.message}):\n${stderr.slice(-3000)}`),
          );
      },
    );
  });
}

/** The bot, as its author would write it: plain JavaScript on the installed SDK, configured by its environment. */
const BOT = `import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { importPrivateJwk, PersonalClientAuth, SessionSupervisor } from '@gatehouse/sdk';
import { FileTokenStore, newNodeDpopKey } from '@gatehouse/sdk/node';

const env = (name) => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(name + ' is not set');
  return value;
};
const account = env('GATEHOUSE_ACCOUNT');
const tokenFile = join(import.meta.dirname, 'tokens.json');
const bot = new SessionSupervisor({
  baseUrl: env('GATEHOUSE_URL'),
  auth: new PersonalClientAuth({
    clientId: env('GATEHOUSE_CLIENT_ID'),
    issuer: env('GATEHOUSE_ISSUER'),
    clientKey: await importPrivateJwk(JSON.parse(readFileSync(env('GATEHOUSE_CLIENT_KEY_FILE'), 'utf8'))),
  }),
  dpopKey: newNodeDpopKey(),
  tokenStore: new FileTokenStore(tokenFile),
  trading: { compete: true },
  keepAliveMs: null,
});
const states = [];
bot.on('state', (e) => states.push(e.to));
const failures = [];
const check = (held, what) => {
  if (!held) failures.push(what);
};
const summary = { sdk: import.meta.resolve('@gatehouse/sdk'), protocol: import.meta.resolve('@gatehouse/protocol') };
try {
  await bot.start();
  const clientOrderId = 'install-check-' + process.pid;
  // A buy limit far below the market: it rests, open, until the bot or the day ends it.
  const order = { clientOrderId, instrumentId: 265598, side: 'BUY', type: 'LMT', limitPrice: 1, quantity: 1, tif: 'DAY' };
  let placed = await bot.placeOrder(account, order);
  if (placed.status === 'confirmation_required') placed = await placed.confirm();
  summary.placed = placed.status;
  check(placed.status === 'accepted', 'the order was not accepted: ' + placed.status);
  const orderId = placed.order?.id;
  // The same clientOrderId again is the same order, never a second one.
  const again = await bot.placeOrder(account, order);
  summary.sentAgain = again.status;
  check(again.status === 'existing' && again.order.id === orderId, 'sent again: ' + JSON.stringify(again));
  const { orders } = await bot.request('GET', '/v1/accounts/' + account + '/orders?status=open');
  const mine = orders.filter((o) => o.clientOrderId === clientOrderId);
  summary.openWithClientOrderId = mine.length;
  check(mine.length === 1 && mine[0].id === orderId, 'open orders: ' + JSON.stringify(mine));
  const read = await bot.request('GET', '/v1/accounts/' + account + '/orders/' + orderId);
  summary.readBack = { id: read.id, clientOrderId: read.clientOrderId, quantity: read.quantity, status: read.status };
  check(read.id === orderId && read.clientOrderId === clientOrderId && read.quantity === 1, 'read back: ' + JSON.stringify(read));
  summary.tokenFileMode = (statSync(tokenFile).mode & 0o777).toString(8);
  check(summary.tokenFileMode === '600', 'the token file is mode ' + summary.tokenFileMode);
  summary.clientOrderId = clientOrderId;
  summary.orderId = orderId;
} catch (error) {
  failures.push(String(error?.name) + ': ' + String(error?.message));
} finally {
  summary.state = bot.state;
  summary.states = [...states];
  check(bot.state === 'ready', 'the supervisor is ' + bot.state + ', not ready');
  bot.stop();
}
summary.failures = failures;
console.log(JSON.stringify(summary));
process.exit(failures.length === 0 ? 0 : 1);
`;

const work = realpathSync(mkdtempSync(join(tmpdir(), 'gh-sdk-install-')));
const project = join(work, 'my-bot');
let tarballs: string[] = [];
let installed = false;

/** Builds the two packages when they are not built, packs them, and installs the tarballs into an empty project. */
async function packAndInstall(): Promise<void> {
  const built = PACKAGES.flatMap((p) => [`${p}/dist/index.js`, `${p}/dist/index.d.ts`]).concat(
    'packages/sdk/dist/node.js',
  );
  if (!built.every((f) => existsSync(join(root, f))))
    await run('npm', ['run', 'build', ...PACKAGES.flatMap((p) => ['-w', p])], root, 60_000);
  // The packing of `npm run pack:sdk` (which builds first, always), into this test's folder.
  const packs = join(work, 'packs');
  mkdirSync(packs);
  const packed = JSON.parse(
    await run(
      'npm',
      ['pack', '--json', '--pack-destination', packs, ...PACKAGES.flatMap((p) => ['-w', p])],
      root,
      60_000,
    ),
  ) as { filename: string }[];
  tarballs = packed.map((p) => join(packs, p.filename));
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'my-bot', private: true, type: 'module' }, null, 2)}\n`,
  );
  // `--prefix` pins the project even when npm's own environment (under `npm test`) names this repository.
  await run(
    'npm',
    ['install', '--prefix', project, '--no-audit', '--no-fund', '--prefer-offline', ...tarballs],
    project,
    60_000,
  );
  installed = true;
}

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the SDK, installed from its tarballs', () => {
  it('installs @gatehouse/protocol and @gatehouse/sdk together into an empty project, from the tarballs', async () => {
    await packAndInstall();
    expect(tarballs.map((t) => t.slice(t.lastIndexOf('/') + 1))).toEqual([
      expect.stringMatching(/^gatehouse-protocol-\d+\.\d+\.\d+\.tgz$/),
      expect.stringMatching(/^gatehouse-sdk-\d+\.\d+\.\d+\.tgz$/),
    ]);
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version: string; resolved?: string }>;
    };
    for (const name of ['@gatehouse/protocol', '@gatehouse/sdk']) {
      const entry = lock.packages[`node_modules/${name}`];
      // Resolved from the tarball, not from a registry (where no such package is published).
      expect(entry?.resolved, name).toMatch(/^file:.*\.tgz$/);
    }
    // The packages' own dependency comes from the registry.
    expect(lock.packages['node_modules/zod']?.version).toMatch(/^4\./);
  }, 90_000);

  let gateway: LiveGateway | undefined;
  afterAll(() => gateway?.stop());

  it('runs a bot on it: authenticated, ready, the order accepted once, open and read back', async () => {
    expect(installed, 'the SDK did not install (the test above says why)').toBe(true);
    gateway = await startLiveGateway();
    const { gw, base, issuer } = gateway;
    const bot = await registerBot(gw, await loginAs(gw, ALICE), {
      accounts: [ACCOUNT],
      scopes: ['read', 'trade'],
    });
    const keyFile = join(project, 'client-key.json');
    writeFileSync(keyFile, JSON.stringify(bot.clientKey.privateKey.export({ format: 'jwk' })), {
      mode: 0o600,
    });
    writeFileSync(join(project, 'bot.mjs'), BOT);
    const child = spawn(process.execPath, ['bot.mjs'], {
      cwd: project,
      env: {
        PATH: process.env.PATH ?? '',
        GATEHOUSE_URL: base,
        GATEHOUSE_ISSUER: issuer,
        GATEHOUSE_CLIENT_ID: bot.clientId,
        GATEHOUSE_CLIENT_KEY_FILE: keyFile,
        GATEHOUSE_ACCOUNT: ACCOUNT,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(killer);
    expect(code, `${out}\n${err.slice(-3000)}`).toBe(0);
    const summary = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(summary).toMatchObject({
      placed: 'accepted',
      sentAgain: 'existing',
      openWithClientOrderId: 1,
      readBack: { quantity: 1, status: 'working' },
      tokenFileMode: '600',
      state: 'ready',
      failures: [],
    });
    expect(summary.states).toEqual(['authenticating', 'syncing', 'ready']);
    // The bot ran on the installed packages, not on this repository's.
    expect(String(summary.sdk)).toBe(`file://${project}/node_modules/@gatehouse/sdk/dist/index.js`);
    expect(String(summary.protocol)).toBe(`file://${project}/node_modules/@gatehouse/protocol/dist/index.js`);
    // The gateway's own record: one order with that clientOrderId, from this bot's client.
    const rows = await gw.ctx.store.db
      .selectFrom('orders')
      .select(['id', 'status'])
      .where('client_order_id', '=', String(summary.clientOrderId))
      .execute();
    expect(rows).toEqual([{ id: summary.orderId, status: 'working' }]);
  }, 60_000);
});

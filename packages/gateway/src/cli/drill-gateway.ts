/**
 * @module cli/drill-gateway
 * The gateway a drill runs against, and the bot's identity on it.
 *
 * - Without `--gateway`: a gateway in this process (SQLite in a temporary folder, the sandbox on, an operator token
 *   made for this run, listening on 127.0.0.1 on a free port). A sandbox user is made in its database — a paper
 *   account with US stocks, options and their market data, cash, an authenticator (TOTP) — and the bot's personal
 *   API client is registered through the gateway's public API, as `gatehouse client create` does (`createClient`):
 *   the user logs in on the web channel, the key is made and kept in a 0600 file, the client is registered.
 * - With `--gateway URL`: the operator's token (`GATEHOUSE_ADMIN_TOKEN`, or `--token-file`) drives the sandbox; the
 *   admin API makes no users or personal clients, so the bot's client is the one `gatehouse client create` wrote
 *   (`--client FILE`: its id, issuer, key file and accounts).
 *
 * Access tokens of the drill's own gateway live 20 s (`DRILL_TOKEN_TTL_MS`), less than any shipped scenario: a
 * drill sees whether the bot renews them ahead of expiry or only after a refusal.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { readPrivateFile } from '../app/cpapi.js';
import { createGateway, createLogger } from '../app/index.js';
import { appendAudit } from '../audit/index.js';
import { loadConfig } from '../config/index.js';
import { changeEntitlements, type EntitlementChange } from '../entitlements/index.js';
import { addTotpFactor } from '../factors/index.js';
import { createAccount, createUser, grantAccountRole } from '../identity/index.js';
import { setCash } from '../trading/index.js';
import { type CreatedClient, createClient } from './client.js';
import { Prompter } from './prompt.js';

/** How long the access tokens of a drill's own gateway live. */
export const DRILL_TOKEN_TTL_MS = 20_000;
/** The sandbox user's paper account, and what it may trade and see (the demo's US trader). */
export const DRILL_ACCOUNT = 'DU7000001';
const DRILL_USERNAME = 'drill';
const DRILL_ENTITLEMENTS: EntitlementChange = {
  optionsLevel: 2,
  grantPermissions: [
    ...(['STK', 'ETF', 'OPT'] as const).map((assetClass) => ({ assetClass, region: 'US' as const })),
    { assetClass: 'FX', region: 'GLOBAL' },
  ],
  acceptDisclosures: ['options_risk'],
  subscribe: [
    { bundle: 'US_EQUITY', professional: false },
    { bundle: 'US_OPTIONS', professional: false },
  ],
};

/** The gateway of one drill: where it is, the operator's token, the bot's client, and how to let it go. */
export interface DrillGateway {
  url: string;
  /** The operator's bearer token for the admin API. */
  operatorToken: string;
  client: CreatedClient;
  /** The sandbox user's id, when the drill made it (a gateway elsewhere: learned from the recording). */
  userId: string | undefined;
  /** True when the gateway runs in this process (and ends with the drill). */
  local: boolean;
  close(): Promise<void>;
}

/** Starts a gateway in this process and provisions the drill's user, account and client (see the module). */
export async function startLocalGateway(dir: string): Promise<DrillGateway> {
  const operatorToken = randomBytes(32).toString('base64url');
  const config = loadConfig({
    env: {},
    overrides: {
      server: { host: '127.0.0.1', port: 0 },
      database: { url: join(dir, 'gatehouse.db') },
      sandbox: { enabled: true },
      secrets: { adminApiToken: operatorToken },
      metrics: { listen: 'off' },
      // Shorter than any shipped scenario, so every drill sees the bot renew its token (ahead of expiry, or not).
      oauth: { accessTokenTtlMs: DRILL_TOKEN_TTL_MS },
      log: { level: 'error' },
    },
  });
  const gateway = await createGateway(config, {
    logger: createLogger(config.log.level, pino.destination(2)),
  });
  try {
    const url = (await gateway.listen()).replace('localhost', '127.0.0.1');
    const { ctx } = gateway;
    const { db } = ctx.store;
    const password = randomBytes(24).toString('base64url');
    const user = await createUser(db, ctx.clock, {
      username: DRILL_USERNAME,
      displayName: 'Drill (sandbox user)',
      passwordHash: await ctx.hasher.hash(password),
    });
    await appendAudit(db, ctx.clock, { type: 'user.created', userId: user.id, data: { by: 'cli' } });
    const totp = await addTotpFactor(db, ctx.clock, ctx.box, {
      userId: user.id,
      label: 'Drill authenticator',
      issuer: config.totp.issuer,
      accountName: DRILL_USERNAME,
    });
    await createAccount(db, ctx.clock, {
      id: DRILL_ACCOUNT,
      title: 'Drill – paper',
      paper: true,
      type: 'margin',
      baseCurrency: 'USD',
      clientCategory: 'retail',
      entityCode: 'IBLLC',
    });
    await changeEntitlements({ db, clock: ctx.clock, bus: ctx.bus }, DRILL_ACCOUNT, DRILL_ENTITLEMENTS, {
      userId: null,
      ip: null,
      via: 'cli',
    });
    await setCash(db, DRILL_ACCOUNT, 'USD', 1_000_000);
    await grantAccountRole(db, user.id, DRILL_ACCOUNT, 'owner');
    // The secrets createClient reads, as an unattended `gatehouse client create` would: files of mode 0600.
    const passwordFile = join(dir, 'password');
    const totpFile = join(dir, 'totp');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    writeFileSync(totpFile, `${totp.secret}\n`, { mode: 0o600 });
    const prompter = new Prompter();
    let client: CreatedClient;
    try {
      client = await createClient(
        {
          url,
          user: DRILL_USERNAME,
          accounts: [DRILL_ACCOUNT],
          scopes: ['read', 'trade', 'marketdata'],
          jwkOut: join(dir, 'client-key.json'),
          name: 'drill bot',
          passwordFile,
          totpFile,
        },
        prompter,
      );
    } finally {
      prompter.close();
    }
    return {
      url,
      operatorToken,
      client,
      userId: user.id,
      local: true,
      close: () => gateway.close(),
    };
  } catch (error) {
    await gateway.close();
    throw error;
  }
}

/** A gateway elsewhere: the operator's token and the client `gatehouse client create` wrote. */
export function remoteGateway(options: {
  url: string;
  tokenFile: string | undefined;
  clientFile: string | undefined;
}): DrillGateway {
  const operatorToken =
    options.tokenFile === undefined ? process.env.GATEHOUSE_ADMIN_TOKEN : readPrivateFile(options.tokenFile);
  if (operatorToken === undefined || operatorToken === '')
    throw new Error(
      '--gateway needs the operator token: set GATEHOUSE_ADMIN_TOKEN or give --token-file (a file of mode 0600)',
    );
  if (options.clientFile === undefined)
    throw new Error(
      "--gateway needs the bot's API client: --client FILE, the JSON `gatehouse client create` printed",
    );
  let client: CreatedClient;
  try {
    client = JSON.parse(readFileSync(options.clientFile, 'utf8')) as CreatedClient;
  } catch (error) {
    throw new Error(`--client ${options.clientFile}: ${(error as Error).message}`);
  }
  for (const field of ['clientId', 'issuer', 'keyFile'] as const)
    if (typeof client[field] !== 'string')
      throw new Error(
        `--client ${options.clientFile} has no ${field} (write it with gatehouse client create)`,
      );
  if (!Array.isArray(client.accounts) || typeof client.accounts[0] !== 'string')
    throw new Error(`--client ${options.clientFile} names no account`);
  const url = options.url.replace(/\/+$/, '');
  return { url, operatorToken, client, userId: undefined, local: false, close: async () => {} };
}

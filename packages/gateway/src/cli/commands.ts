/**
 * @module cli/commands
 * The `gatehouse` subcommands. Commands that only touch the database open it directly (no server needed) and
 * write the same audit events the API would.
 *
 * Longer than most modules: every command's definition in one place, each a few lines over the services.
 */
import type { Command } from 'commander';
import pino from 'pino';
import { closeContext, createContext, createGateway, createLogger } from '../app/index.js';
import { appendAudit, verifyAuditChain } from '../audit/index.js';
import type { Config } from '../config/index.js';
import { ConfigError, GatehouseError } from '../core/index.js';
import { DEMO_USERS, formatDemoCredentials, seedDemo } from '../demo/index.js';
import {
  changeEntitlements,
  entitlementChangeSchema,
  loadEntitlements,
  presentEntitlements,
} from '../entitlements/index.js';
import { addTotpFactor, listSmsOutbox, totpCode } from '../factors/index.js';
import { parseWith } from '../http/index.js';
import {
  ACCOUNT_ROLES,
  type AccountRole,
  assertPasswordAllowed,
  changeAccountRole,
  createUser,
  findUserByUsername,
  listUserAccounts,
} from '../identity/index.js';
import { generateInitialPassword, resetPassword } from '../passwords/index.js';
import {
  monitorSessions,
  revokeLiveSessions,
  setUserEnabled,
  userResetSchedules,
} from '../sessions/index.js';
import { registerAuthenticator } from './authenticator.js';
import { registerBackupCommands } from './backup.js';
import { registerDrillCommand } from './drill.js';
import { type CommonFlags, configFromFlags, readStdin } from './options.js';
import { registerSandboxCommands } from './sandbox.js';
import { registerSecretCommands } from './secret.js';
import { sandboxWarning, servingLine } from './serving.js';
import { stopOnSignals } from './stopping.js';

/** A context for commands that work on the database without serving; its logs go to stderr. */
function offlineContext(flags: CommonFlags) {
  const config = configFromFlags(flags, { log: { level: 'warn' } });
  return createContext(config, { logger: createLogger(config.log.level, pino.destination(2)) });
}

function withCommon(command: Command): Command {
  return command
    .option('--db <url>', 'database: a SQLite file path or postgres://… (default ./data/gatehouse.db)')
    .option('--config <file>', 'JSON config file (default ./gatehouse.config.json when present)');
}

export function registerCommands(program: Command): void {
  withCommon(program.command('serve').description('start the gateway'))
    .option('--port <port>', 'port to listen on (default 8080)', (v) => Number.parseInt(v, 10))
    .option('--host <host>', 'interface to listen on (default localhost)')
    .option(
      '--demo',
      'create the demo users and print their credentials; turn the failure sandbox on (docs/sandbox.md)',
    )
    .option(
      '--cpapi [port]',
      'also open an IBKR Client Portal Web API listener on 127.0.0.1 (default port 5000)',
      (v) => Number.parseInt(v, 10),
    )
    .option(
      '--cpapi-user <name>',
      'the user the CPAPI listener logs in as by itself (a demo user under --demo)',
    )
    .option('--cpapi-password-file <file>', "that user's password, in a file of mode 0600")
    .option('--cpapi-totp-file <file>', "that user's TOTP secret, in a file of mode 0600")
    .option('--cpapi-tls', 'serve the CPAPI listener over HTTPS with a self-signed certificate, as IBKR does')
    .action(async (flags: ServeFlags) => {
      const config = configFromFlags(flags, {
        server: {
          ...(flags.port === undefined ? {} : { port: flags.port }),
          ...(flags.host === undefined ? {} : { host: flags.host }),
        },
        ...(flags.demo === true ? { development: { exposeOutboxes: true }, sandbox: { enabled: true } } : {}),
      });
      if (flags.cpapi !== undefined) config.cpapi.listeners.push(cpapiListenerFromFlags(flags));
      const gateway = await createGateway(config, {
        // The demo users' secrets are public: a listener may log in as one without files.
        ...(flags.demo === true ? { cpapiCredentials: demoCredentials } : {}),
      });
      const { logger } = gateway.ctx;
      const sandboxBanner = sandboxWarning(config);
      if (sandboxBanner !== null) {
        process.stderr.write(`\n${sandboxBanner}\n\n`);
        logger.warn(
          { sandbox: true, host: config.server.host },
          'the failure sandbox is on outside development: faults may be injected on purpose; not for production',
        );
      }
      if (flags.demo === true) {
        const users = await seedDemo(gateway.ctx);
        process.stdout.write(`\n${formatDemoCredentials(users)}\n\n`);
        logger.warn('demo users with public credentials are enabled; do not expose this instance');
      }
      const listening = await gateway.listen();
      // The public URL (the OAuth issuer), which `listen` completed with the port the listener was given.
      process.stdout.write(`${servingLine(gateway.ctx.urls, listening, gateway.ctx.store.description)}\n`);
      for (const listener of gateway.cpapi) {
        const held = listener.held.userId === null ? 'log in at /sso/Login' : 'logged in';
        process.stdout.write(`IBKR Client Portal Web API: ${listener.url}/v1/api/ (${held})\n`);
      }
      stopOnSignals(gateway, config.server.shutdownTimeoutMs, logger);
    });

  withCommon(
    program.command('demo').description('create the demo users (idempotent) and print their credentials'),
  )
    .option('--json', 'print exactly one JSON document')
    .action(async (flags: CommonFlags & { json?: boolean }) => {
      const ctx = await offlineContext(flags);
      try {
        const users = await seedDemo(ctx);
        process.stdout.write(
          flags.json === true ? `${JSON.stringify({ users })}\n` : `${formatDemoCredentials(users)}\n`,
        );
      } finally {
        await closeContext(ctx);
      }
    });

  const user = program.command('user').description('manage users');
  // An operator's password is an initial one (ASVS 5.0 6.4.1): it stops working after password.initialLifetimeMs
  // unless the user has changed it, and the portal asks the user to change it.
  const initialPasswordNote = (expiresAt: number) =>
    `this is an initial password: it stops working at ${new Date(expiresAt).toISOString()} unless the user changes it\n`;
  withCommon(user.command('create').description('create a user with an initial password'))
    .requiredOption('--username <name>', 'login name')
    .option('--display-name <name>', 'name shown in the portal')
    .option(
      '--password-stdin',
      'read the password from standard input (otherwise one is generated and printed)',
    )
    .action(
      async (flags: CommonFlags & { username: string; displayName?: string; passwordStdin?: boolean }) => {
        const ctx = await offlineContext(flags);
        try {
          const owner = { username: flags.username, displayName: flags.displayName ?? flags.username };
          const generated =
            flags.passwordStdin === true ? undefined : generateInitialPassword(ctx.passwordPolicy, owner);
          const password = generated ?? (await readStdin());
          assertPasswordAllowed(ctx.passwordPolicy, password, owner);
          const expiresAt = ctx.clock.now() + ctx.config.password.initialLifetimeMs;
          const created = await createUser(ctx.store.db, ctx.clock, {
            ...owner,
            passwordHash: await ctx.hasher.hash(password),
            initialPasswordExpiresAt: expiresAt,
          });
          await appendAudit(ctx.store.db, ctx.clock, {
            type: 'user.created',
            userId: created.id,
            data: { by: 'cli' },
          });
          process.stdout.write(`created user ${created.username} (${created.id})\n`);
          if (generated !== undefined) process.stdout.write(`password: ${generated}\n`);
          process.stdout.write(initialPasswordNote(expiresAt));
        } finally {
          await closeContext(ctx);
        }
      },
    );

  withCommon(
    user
      .command('reset-password')
      .description(
        "give a user a new initial password, revoke their API clients and apps' access and end their sessions, after the broker's support has proved who is asking; second factors stay (audited)",
      )
      .argument('<username>'),
  )
    .option(
      '--password-stdin',
      'read the password from standard input (otherwise one is generated and printed once)',
    )
    .action(async (username: string, flags: CommonFlags & { passwordStdin?: boolean }) => {
      const ctx = await offlineContext(flags);
      try {
        const password = flags.passwordStdin === true ? await readStdin() : undefined;
        const reset = await resetPassword(
          {
            db: ctx.store.db,
            clock: ctx.clock,
            hasher: ctx.hasher,
            policy: ctx.passwordPolicy,
            sessions: ctx.sessions,
            bus: ctx.bus,
            notifier: ctx.notifier,
            initialLifetimeMs: ctx.config.password.initialLifetimeMs,
            oauth: ctx.oauth,
          },
          username,
          { via: 'cli', ...(password === undefined ? {} : { password }) },
        );
        process.stdout.write(
          `reset the password of ${reset.username}; ended ${reset.endedSessions} session(s), revoked ${reset.revokedGrants} API grant(s)\n`,
        );
        if (reset.generatedPassword !== undefined)
          process.stdout.write(`password: ${reset.generatedPassword}\n`);
        process.stdout.write(initialPasswordNote(reset.expiresAt));
      } finally {
        await closeContext(ctx);
      }
    });

  for (const enabled of [false, true]) {
    withCommon(
      user
        .command(enabled ? 'enable' : 'disable')
        .description(
          enabled
            ? 'let a disabled user log in again (audited)'
            : 'stop a user logging in and end every session of theirs (audited)',
        )
        .argument('<username>'),
    ).action(async (username: string, flags: CommonFlags) => {
      const ctx = await offlineContext(flags);
      try {
        const deps = { db: ctx.store.db, clock: ctx.clock, bus: ctx.bus, sessions: ctx.sessions };
        const { endedSessions } = await setUserEnabled(deps, username, enabled, 'cli');
        process.stdout.write(
          enabled ? `enabled ${username}\n` : `disabled ${username}; ended ${endedSessions} session(s)\n`,
        );
      } finally {
        await closeContext(ctx);
      }
    });
  }

  withCommon(
    user.command('add-totp').description('enrol a TOTP authenticator for a user; prints the secret once'),
  )
    .argument('<username>')
    .option('--label <label>', 'name of the authenticator', 'Authenticator app')
    .action(async (username: string, flags: CommonFlags & { label: string }) => {
      const ctx = await offlineContext(flags);
      try {
        const found = await findUserByUsername(ctx.store.db, username);
        if (found === undefined) throw new GatehouseError('USER_NOT_FOUND');
        const enrolment = await addTotpFactor(ctx.store.db, ctx.clock, ctx.box, {
          userId: found.id,
          label: flags.label,
          issuer: ctx.config.totp.issuer,
          accountName: found.username,
        });
        await appendAudit(ctx.store.db, ctx.clock, {
          type: 'factor.added',
          userId: found.id,
          data: { factor: 'totp', factorId: enrolment.factorId, by: 'cli' },
        });
        process.stdout.write(`secret: ${enrolment.secret}\nuri: ${enrolment.uri}\n`);
      } finally {
        await closeContext(ctx);
      }
    });

  const audit = program.command('audit').description('the hash-chained audit log');
  withCommon(
    audit.command('verify').description('check the audit chain; prints OK or the first broken row'),
  ).action(async (flags: CommonFlags) => {
    const ctx = await offlineContext(flags);
    try {
      const result = await verifyAuditChain(ctx.store.db);
      if (result.ok) {
        process.stdout.write(`OK: ${result.rows} rows, chain intact\n`);
      } else {
        process.stdout.write(
          `BROKEN at row ${result.brokenAtSeq}: ${result.reason} (${result.rows} rows verified before it)\n`,
        );
        process.exitCode = 1;
      }
    } finally {
      await closeContext(ctx);
    }
  });

  const sessions = program.command('sessions').description('the session monitor, for operators');
  withCommon(sessions.command('list').description("list a user's live sessions across channels"))
    .requiredOption('--user <username>', 'whose sessions')
    .option('--json', 'print one JSON document')
    .action(async (flags: CommonFlags & { user: string; json?: boolean }) => {
      const ctx = await offlineContext(flags);
      try {
        const found = await findUserByUsername(ctx.store.db, flags.user);
        if (found === undefined) throw new GatehouseError('USER_NOT_FOUND');
        const accounts = await listUserAccounts(ctx.store.db, found.id);
        const list = await monitorSessions(
          ctx.store.db,
          ctx.clock,
          ctx.sessions,
          found.id,
          null,
          userResetSchedules(ctx.config.brokerage.resets, accounts),
        );
        if (flags.json === true) {
          process.stdout.write(`${JSON.stringify({ sessions: list })}\n`);
          return;
        }
        for (const s of list) {
          const state = s.competing ? 'competing' : s.tier;
          process.stdout.write(
            `${s.id}  ${s.channel.padEnd(7)} ${state.padEnd(10)} ${s.network ?? '-'}  ${s.device?.name ?? '-'}  last seen ${s.lastSeenAt}\n`,
          );
        }
        if (list.length === 0) process.stdout.write('no live sessions\n');
      } finally {
        await closeContext(ctx);
      }
    });
  withCommon(
    sessions
      .command('revoke')
      .description(
        "end a session, all of a user's sessions, or every user's (a running node notices within 30 s)",
      ),
  )
    .argument('[sessionId]')
    .option('--user <username>', 'with --all: whose sessions')
    .option('--all', 'revoke every live session of --user')
    .option('--all-users', 'revoke every live session of every user')
    .action(
      async (
        sessionId: string | undefined,
        flags: CommonFlags & { user?: string; all?: boolean; allUsers?: boolean },
      ) => {
        const ctx = await offlineContext(flags);
        try {
          const deps = { db: ctx.store.db, clock: ctx.clock, bus: ctx.bus, sessions: ctx.sessions };
          let count = 0;
          if (sessionId !== undefined) {
            const target = await ctx.sessions.findById(sessionId);
            if (target === undefined) throw new GatehouseError('SESSION_NOT_FOUND');
            if (await ctx.sessions.revoke(sessionId, 'revoked_by_operator')) {
              count = 1;
              await appendAudit(ctx.store.db, ctx.clock, {
                type: 'session.revoked',
                userId: target.userId,
                sessionId,
                data: { by: 'operator', reason: 'revoked_by_operator', via: 'cli' },
              });
            }
          } else if (flags.all === true && flags.user !== undefined) {
            const found = await findUserByUsername(ctx.store.db, flags.user);
            if (found === undefined) throw new GatehouseError('USER_NOT_FOUND');
            count = await revokeLiveSessions(deps, { userId: found.id }, 'revoked_by_operator', 'cli');
          } else if (flags.allUsers === true) {
            count = await revokeLiveSessions(deps, 'everyone', 'revoked_by_operator', 'cli');
          } else {
            throw new Error('give a session id, --user NAME --all, or --all-users');
          }
          process.stdout.write(`revoked ${count} session(s)\n`);
        } finally {
          await closeContext(ctx);
        }
      },
    );

  const account = program.command('account').description("an account's entitlements, for operators");
  withCommon(
    account.command('show').description("print an account's entitlements as JSON").argument('<accountId>'),
  ).action(async (accountId: string, flags: CommonFlags) => {
    const ctx = await offlineContext(flags);
    try {
      const entitlements = await loadEntitlements(ctx.store.db, accountId);
      if (entitlements === undefined) throw new GatehouseError('ACCOUNT_NOT_FOUND');
      process.stdout.write(`${JSON.stringify(presentEntitlements(entitlements), null, 2)}\n`);
    } finally {
      await closeContext(ctx);
    }
  });
  const list = (v: string) =>
    v
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x.length > 0);
  const flag = (v: string) => {
    if (v !== 'true' && v !== 'false') throw new Error('expected true or false');
    return v === 'true';
  };
  withCommon(
    account
      .command('set')
      .description("change an account's entitlements (audited); prints the result as JSON")
      .argument('<accountId>'),
  )
    .option('--frozen <bool>', 'freeze or unfreeze the account', flag)
    .option('--closing-only <bool>', 'allow only reducing orders', flag)
    .option('--options-level <n>', 'options level 0–4', (v) => Number.parseInt(v, 10))
    .option('--type <type>', 'cash | margin | portfolio_margin')
    .option('--client-category <category>', 'retail | professional')
    .option('--grant <permissions>', 'comma-separated ASSET:REGION, e.g. OPT:US,ETF:EU', list)
    .option('--revoke <permissions>', 'comma-separated ASSET:REGION', list)
    .option('--accept-disclosure <names>', 'options_risk, futures_risk, crypto_risk', list)
    .option(
      '--subscribe <bundles>',
      'market-data bundles, BUNDLE or BUNDLE:pro, e.g. US_EQUITY,CME:pro',
      list,
    )
    .option('--unsubscribe <bundles>', 'market-data bundles', list)
    .action(
      async (
        accountId: string,
        flags: CommonFlags & {
          frozen?: boolean;
          closingOnly?: boolean;
          optionsLevel?: number;
          type?: string;
          clientCategory?: string;
          grant?: string[];
          revoke?: string[];
          acceptDisclosure?: string[];
          subscribe?: string[];
          unsubscribe?: string[];
        },
      ) => {
        const pair = (p: string) => {
          const [assetClass, region] = p.split(':');
          return { assetClass, region };
        };
        const change = parseWith(entitlementChangeSchema, {
          ...(flags.frozen === undefined ? {} : { frozen: flags.frozen }),
          ...(flags.closingOnly === undefined ? {} : { closingOnly: flags.closingOnly }),
          ...(flags.optionsLevel === undefined ? {} : { optionsLevel: flags.optionsLevel }),
          ...(flags.type === undefined ? {} : { type: flags.type }),
          ...(flags.clientCategory === undefined ? {} : { clientCategory: flags.clientCategory }),
          ...(flags.grant === undefined ? {} : { grantPermissions: flags.grant.map(pair) }),
          ...(flags.revoke === undefined ? {} : { revokePermissions: flags.revoke.map(pair) }),
          ...(flags.acceptDisclosure === undefined ? {} : { acceptDisclosures: flags.acceptDisclosure }),
          ...(flags.subscribe === undefined
            ? {}
            : {
                subscribe: flags.subscribe.map((b) => ({
                  bundle: b.split(':')[0],
                  professional: b.endsWith(':pro'),
                })),
              }),
          ...(flags.unsubscribe === undefined ? {} : { unsubscribe: flags.unsubscribe }),
        });
        const ctx = await offlineContext(flags);
        try {
          const updated = await changeEntitlements(
            { db: ctx.store.db, clock: ctx.clock, bus: ctx.bus },
            accountId,
            change,
            {
              userId: null,
              ip: null,
              via: 'cli',
            },
          );
          process.stdout.write(`${JSON.stringify(presentEntitlements(updated), null, 2)}\n`);
        } finally {
          await closeContext(ctx);
        }
      },
    );

  const role = (v: string): AccountRole => {
    if (!(ACCOUNT_ROLES as readonly string[]).includes(v))
      throw new Error(`a role is ${ACCOUNT_ROLES.join(' | ')}`);
    return v as AccountRole;
  };
  const printRole = (r: Awaited<ReturnType<typeof changeAccountRole>>) =>
    process.stdout.write(
      `${r.username} on ${r.accountId}: ${r.previous ?? 'no role'} → ${r.role ?? 'no role'}\n`,
    );
  withCommon(
    account
      .command('grant')
      .description('give a user a role on an account (replacing any earlier one; audited)')
      .argument('<accountId>')
      .argument('<username>'),
  )
    .requiredOption('--role <role>', 'owner | trader | viewer', role)
    .action(async (accountId: string, username: string, flags: CommonFlags & { role: AccountRole }) => {
      const ctx = await offlineContext(flags);
      try {
        const deps = { db: ctx.store.db, clock: ctx.clock, bus: ctx.bus };
        printRole(
          await changeAccountRole(deps, { accountId, username, role: flags.role, via: 'cli', ip: null }),
        );
      } finally {
        await closeContext(ctx);
      }
    });
  withCommon(
    account
      .command('revoke')
      .description("take a user's role on an account away (audited); an account keeps one owner")
      .argument('<accountId>')
      .argument('<username>'),
  )
    .option('--role <role>', 'only if the user holds this role', role)
    .action(async (accountId: string, username: string, flags: CommonFlags & { role?: AccountRole }) => {
      const ctx = await offlineContext(flags);
      try {
        if (flags.role !== undefined) {
          const user = await findUserByUsername(ctx.store.db, username);
          const held = user === undefined ? [] : await listUserAccounts(ctx.store.db, user.id);
          const current = held.find((a) => a.id === accountId)?.role;
          if (current !== flags.role)
            throw new GatehouseError(
              'INVALID_REQUEST',
              `${username} holds ${current ?? 'no role'} on ${accountId}.`,
            );
        }
        const deps = { db: ctx.store.db, clock: ctx.clock, bus: ctx.bus };
        printRole(await changeAccountRole(deps, { accountId, username, role: null, via: 'cli', ip: null }));
      } finally {
        await closeContext(ctx);
      }
    });

  const sms = program.command('sms').description('the SMS simulator');
  withCommon(sms.command('outbox').description('show the newest messages the SMS simulator "sent"'))
    .option('--limit <n>', 'how many', (v) => Number.parseInt(v, 10), 10)
    .action(async (flags: CommonFlags & { limit: number }) => {
      const ctx = await offlineContext(flags);
      try {
        for (const m of await listSmsOutbox(ctx.store.db, flags.limit)) {
          process.stdout.write(`${m.createdAt}  ${m.to}  ${m.body}\n`);
        }
      } finally {
        await closeContext(ctx);
      }
    });

  registerAuthenticator(program);
  registerSandboxCommands(program);
  registerDrillCommand(program);
  registerSecretCommands(program);
  registerBackupCommands(program);

  program
    .command('totp')
    .description('print the current TOTP code for a base32 secret')
    .argument('<secret>')
    .action((secret: string) => {
      process.stdout.write(`${totpCode(secret.replace(/\s+/g, '').toUpperCase(), Date.now())}\n`);
    });
}

/** Turns known errors into one clear line and a non-zero exit. */
export function reportError(error: unknown): void {
  if (error instanceof ConfigError) {
    process.stderr.write(`configuration error: ${error.message}\n`);
  } else if (error instanceof GatehouseError) {
    process.stderr.write(`error ${error.code}: ${error.message}\n`);
  } else {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exitCode = 1;
}

type ServeFlags = CommonFlags & {
  port?: number;
  host?: string;
  demo?: boolean;
  cpapi?: number | true;
  cpapiUser?: string;
  cpapiPasswordFile?: string;
  cpapiTotpFile?: string;
  cpapiTls?: boolean;
};

function cpapiListenerFromFlags(flags: ServeFlags): Config['cpapi']['listeners'][number] {
  if ((flags.cpapiPasswordFile === undefined) !== (flags.cpapiTotpFile === undefined))
    throw new ConfigError('--cpapi-password-file and --cpapi-totp-file go together');
  if (flags.cpapiPasswordFile !== undefined && flags.cpapiUser === undefined)
    throw new ConfigError('--cpapi-password-file needs --cpapi-user');
  return {
    host: '127.0.0.1',
    port: flags.cpapi === true || flags.cpapi === undefined ? 5000 : flags.cpapi,
    tls: flags.cpapiTls === true ? 'self-signed' : 'off',
    ...(flags.cpapiUser === undefined ? {} : { user: flags.cpapiUser }),
    ...(flags.cpapiPasswordFile === undefined ? {} : { passwordFile: flags.cpapiPasswordFile }),
    ...(flags.cpapiTotpFile === undefined ? {} : { totpSecretFile: flags.cpapiTotpFile }),
  };
}

function demoCredentials(username: string) {
  const user = DEMO_USERS.find((u) => u.username === username);
  return user === undefined
    ? undefined
    : { username: user.username, password: user.password, totpSecret: user.totpSecret };
}

/**
 * @module app/cpapi
 * The CPAPI listeners of `cpapi.listeners`, built from the gateway's context: each is handed the services it calls
 * (sessions, the brokerage tier, the login steps, order entry, market data), never the context itself. Headless
 * credentials are read here, from files the operator made readable by the gateway's user alone (0600); a file
 * that others may read stops start-up with its name and the fix.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Config } from '../config/index.js';
import { buildCpapiListener, type CpapiListener, type HeadlessCredentials } from '../cpapi/index.js';
import type { GatewayContext } from './context.js';
import { loginParts } from './server.js';

export type CpapiListenerConfig = Config['cpapi']['listeners'][number];

/**
 * Builds every configured listener (not yet listening). `known` supplies credentials for a listener that names a
 * user but no files (the demo users, whose secrets are public).
 */
export async function buildCpapiListeners(
  ctx: GatewayContext,
  known: (username: string) => HeadlessCredentials | undefined = () => undefined,
): Promise<CpapiListener[]> {
  const listeners: CpapiListener[] = [];
  for (const listener of ctx.config.cpapi.listeners) {
    listeners.push(await buildOne(ctx, listener, credentialsFor(listener, known)));
  }
  return listeners;
}

export async function buildOne(
  ctx: GatewayContext,
  listener: CpapiListenerConfig,
  credentials: HeadlessCredentials | undefined,
): Promise<CpapiListener> {
  const login = loginParts(ctx);
  const page = {
    ...login.limits,
    ...login.transactions,
    ...login.completion,
    ...login.passwordChecks,
    ...login.codes,
    ...login.push,
  };
  return buildCpapiListener(
    {
      sessions: ctx.sessions,
      brokerage: ctx.brokerage,
      login: page,
      loginPage: page,
      clock: ctx.clock,
      bus: ctx.bus,
      logger: ctx.logger,
      trading: ctx.trading,
      marketData: ctx.marketData,
      db: ctx.store.db,
      journal: ctx.journal,
      orderEntry: {
        priceBandConfirm: ctx.config.trading.priceBandConfirm,
        confirmationTtlMs: ctx.config.trading.confirmationTtlMs,
      },
    },
    {
      host: listener.host,
      port: listener.port,
      tls: listener.tls,
      pacing: ctx.config.cpapi.pacing ? ctx.config.cpapi.pacingLimits : null,
      ...(credentials === undefined ? {} : { credentials }),
    },
  );
}

function credentialsFor(
  listener: CpapiListenerConfig,
  known: (username: string) => HeadlessCredentials | undefined,
): HeadlessCredentials | undefined {
  if (listener.user === undefined) return undefined;
  if (listener.passwordFile === undefined || listener.totpSecretFile === undefined) {
    const demo = known(listener.user);
    if (demo === undefined)
      throw new Error(
        `cpapi listener for ${listener.user}: give passwordFile and totpSecretFile (mode 0600), or no user to log in at its /sso/Login page`,
      );
    return demo;
  }
  return {
    username: listener.user,
    password: readPrivateFile(listener.passwordFile),
    totpSecret: readPrivateFile(listener.totpSecretFile),
  };
}

/** A secret file's first line; refused when group or others may read or write it. */
export function readPrivateFile(path: string): string {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw new Error(
      `${path} is mode ${mode.toString(8).padStart(4, '0')}: a secret file must be readable by its owner only (chmod 600 ${path})`,
    );
  const line = readFileSync(path, 'utf8').split(/\r?\n/)[0]?.trim() ?? '';
  if (line === '') throw new Error(`${path} is empty`);
  return line;
}

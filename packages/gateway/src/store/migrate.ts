/**
 * @module store/migrate
 * Runs the migrations at start-up. Kysely's migrator takes a lock table, so several nodes starting at once
 * against one PostgreSQL database apply each migration exactly once.
 */
import { type Migration, type MigrationProvider, Migrator } from 'kysely';
import type { Store } from './database.js';
import * as foundation from './migrations/0001-foundation.js';
import * as factorsDevices from './migrations/0002-factors-devices.js';
import * as mobilePush from './migrations/0003-mobile-push.js';
import * as webauthn from './migrations/0004-webauthn.js';
import * as brokerage from './migrations/0005-brokerage.js';
import * as desktop from './migrations/0006-desktop.js';
import * as trading from './migrations/0007-trading.js';
import * as eventSequence from './migrations/0008-event-sequence.js';
import * as oauthSafety from './migrations/0009-oauth-safety.js';
import * as initialPasswords from './migrations/0010-initial-passwords.js';
import * as factorCodes from './migrations/0011-factor-codes.js';
import * as cpapiOrderNumbers from './migrations/0012-cpapi-order-numbers.js';
import * as oauthTokenSessions from './migrations/0013-oauth-token-sessions.js';
import * as oauthInstances from './migrations/0014-oauth-instances.js';
import * as sandboxFaults from './migrations/0015-sandbox-faults.js';
import * as smsOutboxLogin from './migrations/0016-sms-outbox-login.js';
import * as cluster from './migrations/0017-cluster.js';
import * as replayClaims from './migrations/0018-replay-claims.js';
import * as readiness from './migrations/0020-readiness.js';

const MIGRATIONS: Record<string, Migration> = {
  '0001-foundation': foundation,
  '0002-factors-devices': factorsDevices,
  '0003-mobile-push': mobilePush,
  '0004-webauthn': webauthn,
  '0005-brokerage': brokerage,
  '0006-desktop': desktop,
  '0007-trading': trading,
  '0008-event-sequence': eventSequence,
  '0009-oauth-safety': oauthSafety,
  '0010-initial-passwords': initialPasswords,
  '0011-factor-codes': factorCodes,
  '0012-cpapi-order-numbers': cpapiOrderNumbers,
  '0013-oauth-token-sessions': oauthTokenSessions,
  '0014-oauth-instances': oauthInstances,
  '0015-sandbox-faults': sandboxFaults,
  '0016-sms-outbox-login': smsOutboxLogin,
  '0017-cluster': cluster,
  '0018-replay-claims': replayClaims,
  '0020-readiness': readiness,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Applies every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(store: Store): Promise<string[]> {
  // Name the schema of the migration tables explicitly: otherwise the migrator's existence check can see another
  // schema's lock table in the same database and skip creating its own.
  const migrator = new Migrator({
    db: store.db,
    provider,
    ...(store.schema === undefined ? {} : { migrationTableSchema: store.schema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error !== undefined) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${reason}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

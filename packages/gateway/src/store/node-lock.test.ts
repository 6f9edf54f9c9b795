/**
 * A second node without `cluster.redisUrl` on one PostgreSQL database is refused at start, with the cause and the
 * fix; cluster nodes share the database; a single node's stop (or death) frees it (store/node-lock.ts).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../config/index.js';
import { ManualClock } from '../core/index.js';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import { startTestGateway, type TestGateway } from '../test-support/gateway.js';
import { testRedisUrl } from '../test-support/redis.js';
import { lockDatabaseForNode, type NodeLock } from './node-lock.js';

/** The single node's lock, once the server has noticed the holder's end (at most a second). */
async function eventuallyLocked(url: string): Promise<NodeLock> {
  for (let tries = 0; ; tries += 1) {
    try {
      return await lockDatabaseForNode(url, 'single');
    } catch (error) {
      if (tries >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

const redisUrl = testRedisUrl();
const postgres = testDatabases().find(([name]) => name === 'postgres')?.[1];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function database(): Promise<TestDatabase> {
  const db = await (postgres as () => Promise<TestDatabase>)();
  cleanups.push(() => db.drop());
  return db;
}

describe.skipIf(postgres === undefined)('the node lock on PostgreSQL', () => {
  const single: ConfigInput = {};

  async function node(db: TestDatabase, config: ConfigInput, demo = false): Promise<TestGateway> {
    const gw = await startTestGateway({ database: db, config, demo, clock: new ManualClock() });
    cleanups.push(() => gw.close());
    return gw;
  }

  it('refuses a second single node, names the cause and the fix; a stop frees it', async () => {
    const db = await database();
    const first = await startTestGateway({ database: db, config: single });
    await expect(node(db, single)).rejects.toThrow(
      'another Gatehouse node without cluster.redisUrl is using this database: several nodes need ' +
        'cluster.redisUrl set on each of them (docs/deployment.md)',
    );
    // The first node serves on.
    expect((await first.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    await first.close();
    const next = await node(db, single);
    expect((await next.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('frees the database when the process holding the lock dies (its connection ends)', async () => {
    const db = await database();
    const lost: string[] = [];
    const lock = await lockDatabaseForNode(db.url, 'single', { warn: (_d, m) => lost.push(m) });
    cleanups.push(() => lock.release());
    await expect(lockDatabaseForNode(db.url, 'single')).rejects.toThrow(/without cluster.redisUrl/);
    // The server ends the lock's session, as it does a dead process's: the lock goes with it.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const ended = await admin.query(
        // pg_locks spans the whole server: only this test's database.
        "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and pid <> pg_backend_pid() " +
          'and database = (select oid from pg_database where datname = current_database())',
      );
      expect(ended.rowCount).toBe(1);
    } finally {
      await admin.end();
    }
    const again = await eventuallyLocked(db.url);
    await again.release();
    expect(lost).toEqual([expect.stringMatching(/database lock was lost/)]);
  });

  describe.skipIf(redisUrl === null)('with cluster nodes', () => {
    const cluster = (): ConfigInput => ({
      cluster: { redisUrl: redisUrl as string, keyPrefix: `gh-test-${randomBytes(6).toString('hex')}:` },
    });

    it('refuses a cluster node while a single node holds the database', async () => {
      const db = await database();
      await node(db, single, true);
      await expect(node(db, cluster())).rejects.toThrow(
        'a Gatehouse node without cluster.redisUrl is using this database: stop it, or set cluster.redisUrl on ' +
          'it too, before starting nodes with cluster.redisUrl (docs/deployment.md)',
      );
    });

    it('starts several cluster nodes on one database, and refuses a single node among them', async () => {
      const db = await database();
      const config = cluster();
      const a = await node(db, config, true);
      const b = await node(db, config);
      for (const gw of [a, b])
        expect((await gw.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      await expect(node(db, single)).rejects.toThrow(
        'Gatehouse nodes with cluster.redisUrl are using this database: set cluster.redisUrl on this node too ' +
          '(docs/deployment.md)',
      );
    });
  });
});

describe('the node lock on SQLite', () => {
  it('takes none: one file, one machine, one process', async () => {
    const lock = await lockDatabaseForNode(':memory:', 'single');
    await lock.release();
    const again = await lockDatabaseForNode('sqlite:/tmp/never-opened.db', 'single');
    await again.release();
  });
});

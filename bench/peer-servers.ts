/**
 * The peers bench/peers.ts measures Gatehouse beside, each an ES module run in a child process of its own (resolving
 * packages from the repository root) that prints `baseline on <url>` once it listens on a free loopback port:
 * better-auth on SQLite behind node:http, and node-oidc-provider with its models in SQLite.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Child, root } from './lib.js';

/** better-auth on SQLite behind node:http. BENCH_COOKIE_CACHE=1 turns its session cookie cache on. */
export const BETTER_AUTH_SERVER = `
import http from 'node:http';
import Database from 'better-sqlite3';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { toNodeHandler } from 'better-auth/node';
const db = new Database(process.env.BENCH_DB);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const baseURL = 'http://127.0.0.1:' + server.address().port;
const options = {
  database: db,
  baseURL,
  secret: process.env.BENCH_SECRET,
  emailAndPassword: { enabled: true },
  session: process.env.BENCH_COOKIE_CACHE === '1' ? { cookieCache: { enabled: true, maxAge: 3600 } } : {},
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  trustedOrigins: [baseURL],
};
const { runMigrations } = await getMigrations(options);
await runMigrations();
const auth = betterAuth(options);
server.on('request', toNodeHandler(auth));
console.log('baseline on ' + baseURL);
`;

/**
 * node-oidc-provider with one confidential client (private_key_jwt, ES256), the client-credentials grant and DPoP
 * (ES256), its models (tokens, replay records of assertions and proofs) in SQLite through a small adapter.
 */
export const OIDC_PROVIDER_SERVER = `
import http from 'node:http';
import Database from 'better-sqlite3';
import Provider from 'oidc-provider';
const db = new Database(process.env.BENCH_DB);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec('create table if not exists models (name text not null, id text not null, payload text not null, grant_id text, uid text, user_code text, expires_at integer, consumed integer, primary key (name, id))');
const upsert = db.prepare('insert into models (name, id, payload, grant_id, uid, user_code, expires_at) values (?, ?, ?, ?, ?, ?, ?) on conflict (name, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid, user_code = excluded.user_code, expires_at = excluded.expires_at');
const byId = db.prepare('select payload, expires_at, consumed from models where name = ? and id = ?');
const byUid = db.prepare('select payload, expires_at, consumed from models where name = ? and uid = ?');
const byUserCode = db.prepare('select payload, expires_at, consumed from models where name = ? and user_code = ?');
const consume = db.prepare('update models set consumed = ? where name = ? and id = ?');
const destroy = db.prepare('delete from models where name = ? and id = ?');
const revokeGrant = db.prepare('delete from models where grant_id = ?');
const row = (r) => {
  if (r === undefined || (r.expires_at !== null && r.expires_at < Date.now())) return undefined;
  const payload = JSON.parse(r.payload);
  return r.consumed === null ? payload : { ...payload, consumed: r.consumed };
};
class SqliteAdapter {
  constructor(name) { this.name = name; }
  async upsert(id, payload, expiresIn) {
    upsert.run(this.name, id, JSON.stringify(payload), payload.grantId ?? null, payload.uid ?? null,
      payload.userCode ?? null, expiresIn ? Date.now() + expiresIn * 1000 : null);
  }
  async find(id) { return row(byId.get(this.name, id)); }
  async findByUid(uid) { return row(byUid.get(this.name, uid)); }
  async findByUserCode(code) { return row(byUserCode.get(this.name, code)); }
  async consume(id) { consume.run(Math.floor(Date.now() / 1000), this.name, id); }
  async destroy(id) { destroy.run(this.name, id); }
  async revokeByGrantId(grantId) { revokeGrant.run(grantId); }
}
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = 'http://127.0.0.1:' + server.address().port;
const provider = new Provider(issuer, {
  adapter: SqliteAdapter,
  clients: [{
    client_id: 'bench',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    id_token_signed_response_alg: 'ES256',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    jwks: { keys: [JSON.parse(process.env.BENCH_CLIENT_JWK)] },
  }],
  jwks: { keys: [JSON.parse(process.env.BENCH_SIGNING_JWK)] },
  features: {
    clientCredentials: { enabled: true },
    dPoP: { enabled: true },
    devInteractions: { enabled: false },
    introspection: { enabled: false },
    revocation: { enabled: false },
  },
  enabledJWA: {
    clientAuthSigningAlgValues: ['ES256'],
    dPoPSigningAlgValues: ['ES256'],
    idTokenSigningAlgValues: ['ES256'],
  },
  scopes: ['read'],
});
server.on('request', provider.callback());
console.log('baseline on ' + issuer);
`;

/** Starts an ES module script (resolving packages from the repository root) and waits for its "baseline on" line. */
export function startModule(script: string, env: Record<string, string>): Promise<Child & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-peers-'));
  const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'production', BENCH_DB: join(dir, 'peer.db'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const collect = (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-8000);
      const url = /baseline on (http:\/\/\S+)/.exec(out)?.[1];
      if (url === undefined) return;
      child.stdout.off('data', collect);
      child.stderr.off('data', collect);
      child.stdout.resume();
      child.stderr.resume();
      resolve({
        url,
        dir,
        process: child,
        stop: () =>
          new Promise<void>((done) => {
            const finish = () => {
              rmSync(dir, { recursive: true, force: true });
              done();
            };
            if (child.exitCode !== null) return finish();
            child.once('exit', finish);
            child.kill('SIGTERM');
          }),
      });
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('exit', (code) => reject(new Error(`peer exited with ${code}: ${out.slice(-2000)}`)));
  });
}

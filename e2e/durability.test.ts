/**
 * Durability of trading: a `kill -9` of the gateway in the middle of a burst of orders loses no order that was
 * acknowledged (201) to the client, and the gateway starts again on the same file. Runs the built CLI in a child
 * process against a temporary SQLite file, as an operator would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { totpCode } from '../packages/gateway/src/factors/index.js';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/bin/gatehouse.js');
const dir = mkdtempSync(join(tmpdir(), 'gh-durable-'));
const dbFile = join(dir, 'g.db');
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function serve(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [cli, 'serve', '--demo', '--port', '0', '--host', '127.0.0.1', '--db', dbFile],
    {
      env: { ...process.env, GATEHOUSE_LOGIN_IP_RATE_LIMIT_MAX: '100000', GATEHOUSE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /serving on (http:\/\/\S+)/.exec(out);
      if (match?.[1] !== undefined) resolve({ child, url: match[1].replace('localhost', '127.0.0.1') });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${out.slice(-2000)}`)));
  });
}

async function tradingSession(url: string) {
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const started = (await (
    await post('/v1/auth/login', { username: 'alice', password: 'alice-demo-password', channel: 'web' })
  ).json()) as { loginId: string };
  const done = await post(`/v1/auth/login/${started.loginId}/factor`, {
    type: 'totp',
    code: totpCode('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', Date.now()),
  });
  expect(done.status).toBe(200);
  const cookie = (done.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const { csrfToken } = (await done.json()) as { csrfToken: string };
  const headers = { cookie, 'x-csrf-token': csrfToken };
  expect((await post('/v1/session/brokerage', { compete: true }, headers)).status).toBe(200);
  return (path: string, body: unknown) => post(path, body, headers);
}

describe('trading durability', () => {
  it('loses no acknowledged order when the gateway is killed with SIGKILL during a burst', async () => {
    const { child, url } = await serve();
    const post = await tradingSession(url);
    const acknowledged: { id: string; clientOrderId: string }[] = [];
    let next = 0;
    let killed = false;
    const worker = async () => {
      while (!killed && next < 2_000) {
        const clientOrderId = `burst-${next++}`;
        try {
          const response = await post('/v1/accounts/DU1000001/orders', {
            clientOrderId,
            instrumentId: 265598,
            side: 'BUY',
            type: next % 3 === 0 ? 'MKT' : 'LMT',
            ...(next % 3 === 0 ? {} : { limitPrice: 1 }),
            quantity: 1,
            tif: 'GTC',
          });
          if (response.status === 201) {
            const order = (await response.json()) as { id: string };
            acknowledged.push({ id: order.id, clientOrderId });
            if (acknowledged.length === 150 && !killed) {
              killed = true;
              child.kill('SIGKILL');
            }
          } else {
            await response.arrayBuffer();
          }
        } catch {
          // The connection died with the process: this order was never acknowledged.
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    // After SIGKILL, exitCode stays null and signalCode says how the process ended.
    await new Promise((resolve) =>
      child.exitCode === null && child.signalCode === null ? child.once('exit', resolve) : resolve(undefined),
    );
    expect(killed).toBe(true);
    expect(acknowledged.length).toBeGreaterThanOrEqual(150);

    const db = new Database(dbFile, { readonly: true });
    try {
      const rows = db
        .prepare("SELECT id, client_order_id FROM orders WHERE account_id = 'DU1000001'")
        .all() as {
        id: string;
        client_order_id: string;
      }[];
      const stored = new Map(rows.map((r) => [r.id, r.client_order_id]));
      for (const a of acknowledged) expect(stored.get(a.id), a.clientOrderId).toBe(a.clientOrderId);
      const accepted = db
        .prepare("SELECT order_id FROM account_events WHERE account_id = 'DU1000001' AND type = 'accepted'")
        .all() as { order_id: string }[];
      const acceptedIds = new Set(accepted.map((e) => e.order_id));
      for (const a of acknowledged) expect(acceptedIds.has(a.id)).toBe(true);
      const seqs = (
        db.prepare("SELECT seq FROM account_events WHERE account_id = 'DU1000001' ORDER BY seq").all() as {
          seq: number;
        }[]
      ).map((r) => r.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    } finally {
      db.close();
    }

    // The gateway starts again on the same file, and picks the working orders up.
    const again = await serve();
    const ready = await fetch(`${again.url}/readyz`);
    expect(ready.status).toBe(200);
    again.child.kill('SIGTERM');
    await new Promise((resolve) => again.child.once('exit', resolve));
  }, 60_000);
});

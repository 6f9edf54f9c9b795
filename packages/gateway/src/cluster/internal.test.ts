/**
 * The node-to-node channel: a signed call runs and its value or coded error comes back; an unsigned, badly signed,
 * replayed-late or other-key call is refused before it runs; a node that is not there is `NodeUnreachable`.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { GatehouseError, hmacSha256, MemoryReplayGuard, systemClock } from '../core/index.js';
import { InternalClient, NodeUnreachable, startInternalListener } from './internal.js';

const KEY = Buffer.alloc(32, 3);
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function listener(now: () => number = Date.now) {
  const calls: { method: string; args: unknown; from: string }[] = [];
  const seen = new MemoryReplayGuard(systemClock);
  const { app, port } = await startInternalListener({
    host: '127.0.0.1',
    port: 0,
    nodeId: 'node-b',
    key: KEY,
    now,
    firstSeen: (signature, at) => seen.claim('internal-call', signature, 60_000, at),
    handle: async (method, args, from) => {
      calls.push({ method, args, from });
      if (method === 'refuse') throw new GatehouseError('ROLE_NOT_ALLOWED');
      if (method === 'crash') throw new Error('secret internals');
      return { echoed: args };
    },
    onError: () => {},
  });
  closers.push(() => app.close());
  return { url: `http://127.0.0.1:${port}`, calls };
}

function raw(url: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${url}/internal/v1/call`, { method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the node-to-node channel', () => {
  it('runs a signed call and brings back its value, or its coded error; internals stay on the node', async () => {
    const node = await listener();
    const client = new InternalClient({ key: KEY, nodeId: 'node-a', now: Date.now });
    closers.push(async () => client.close());
    expect(await client.call(node.url, 'node-b', 'place', { accountId: 'U1' })).toEqual({
      echoed: { accountId: 'U1' },
    });
    expect(node.calls).toEqual([{ method: 'place', args: { accountId: 'U1' }, from: 'node-a' }]);
    await expect(client.call(node.url, 'node-b', 'refuse', {})).rejects.toMatchObject({
      code: 'ROLE_NOT_ALLOWED',
    });
    const crashed = await client.call(node.url, 'node-b', 'crash', {}).catch((e: unknown) => e);
    expect(crashed).toMatchObject({ code: 'INTERNAL' });
    expect(String((crashed as Error).message)).not.toContain('secret internals');
  });

  it('refuses, before running it, a call unsigned, signed with another key or for another node, tampered with, replayed, or out of its 30 s', async () => {
    const node = await listener();
    const body = JSON.stringify({ method: 'place', args: { accountId: 'U1' } });
    const unsigned = await raw(node.url, { 'content-type': 'application/json' }, body);
    expect(unsigned.status).toBe(401);

    const other = new InternalClient({ key: Buffer.alloc(32, 4), nodeId: 'node-x', now: Date.now });
    closers.push(async () => other.close());
    await expect(other.call(node.url, 'node-b', 'place', {})).rejects.toBeInstanceOf(NodeUnreachable);

    const late = new InternalClient({ key: KEY, nodeId: 'node-a', now: () => Date.now() - 31_000 });
    closers.push(async () => late.close());
    await expect(late.call(node.url, 'node-b', 'place', {})).rejects.toBeInstanceOf(NodeUnreachable);

    // A call signed for another node (taken off the wire there) is refused here.
    const elsewhere = new InternalClient({ key: KEY, nodeId: 'node-a', now: Date.now });
    closers.push(async () => elsewhere.close());
    await expect(elsewhere.call(node.url, 'node-c', 'place', {})).rejects.toBeInstanceOf(NodeUnreachable);

    // A signature made for one body does not carry another.
    const time = Date.now();
    const signedBody = JSON.stringify({ method: 'place', args: { accountId: 'U1' } });
    const header = `t=${time},n=node-a,s=${hmacSha256(KEY, `${time}.node-a.node-b.${signedBody}`)}`;
    const genuine = await raw(
      node.url,
      { 'content-type': 'application/json', 'x-gatehouse-call': header },
      signedBody,
    );
    expect(genuine.status).toBe(200);
    // The same call again, as a tap on the network would send it: taken once only.
    const replayed = await raw(
      node.url,
      { 'content-type': 'application/json', 'x-gatehouse-call': header },
      signedBody,
    );
    expect(replayed.status).toBe(401);
    expect(node.calls).toHaveLength(1);
    node.calls.splice(0);
    const tampered = await raw(
      node.url,
      { 'content-type': 'application/json', 'x-gatehouse-call': header },
      JSON.stringify({ method: 'cancelOpen', args: { accountId: 'U1' } }),
    );
    expect(tampered.status).toBe(401);
    expect(node.calls).toEqual([]);
  });

  it('says NodeUnreachable when no node answers there', async () => {
    const node = await listener();
    const client = new InternalClient({ key: KEY, nodeId: 'node-a', now: Date.now });
    closers.push(async () => client.close());
    await closers.shift()?.();
    await expect(client.call(node.url, 'node-b', 'place', {})).rejects.toBeInstanceOf(NodeUnreachable);
  });
});

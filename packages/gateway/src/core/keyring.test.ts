/**
 * The secret ring: the current secret makes values, a previous one verifies until its retire time (read from the
 * clock at each check), lookups keep the identity secret's keys; a sealed value opens under either key and is
 * re-sealed under the current one; a node-to-node call signed with the previous key is taken until it retires.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { InternalClient, startInternalListener } from '../cluster/internal.js';
import { deriveKey, ManualClock, MemoryReplayGuard, SecretBox, SecretRing, secretId } from './index.js';

const OLD = Buffer.alloc(32, 1);
const NEW = Buffer.alloc(32, 2);
const RETIRES = 1_000_000;

function rotated(clock: ManualClock) {
  return new SecretRing({
    current: NEW,
    previous: [{ secret: OLD, retiresAt: RETIRES }],
    identity: OLD,
    now: () => clock.now(),
  });
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe('the secret ring', () => {
  it('makes values with the current key, verifies with the previous one until its retire time (clock read at each check), and keeps lookup keys on the identity secret', () => {
    const clock = new ManualClock(RETIRES - 10);
    const ring = rotated(clock);
    const csrf = ring.keys('csrf');
    expect(csrf.current.equals(deriveKey(NEW, 'csrf'))).toBe(true);
    expect(csrf.verifying().map((k) => k.toString('hex'))).toEqual([
      deriveKey(NEW, 'csrf').toString('hex'),
      deriveKey(OLD, 'csrf').toString('hex'),
    ]);
    expect(ring.rotating()).toBe(true);
    clock.set(RETIRES);
    expect(csrf.verifying()).toHaveLength(1);
    expect(ring.rotating()).toBe(false);
    expect(ring.secrets().map((s) => secretId(s.secret))).toEqual([secretId(NEW)]);
    // Lookups are the identity secret's, before and after the grace.
    expect(ring.identifierKey('audit-username').equals(deriveKey(OLD, 'audit-username'))).toBe(true);
    // A secret id names the secret without revealing it.
    expect(secretId(NEW)).toMatch(/^[\w-]{12}$/);
    expect(secretId(NEW)).not.toBe(secretId(OLD));
  });

  it('opens a value sealed under the previous secret in the grace, re-seals it under the current one, and refuses a value sealed under a random secret', () => {
    const clock = new ManualClock(0);
    const sealedOld = new SecretBox(OLD).seal('JBSWY3DPEHPK3PXP');
    const box = new SecretBox(rotated(clock));
    expect(box.open(sealedOld)).toBe('JBSWY3DPEHPK3PXP');
    expect(box.sealedUnderCurrent(sealedOld)).toBe(false);
    const moved = box.reseal(sealedOld) as string;
    expect(new SecretBox(NEW).open(moved)).toBe('JBSWY3DPEHPK3PXP');
    expect(box.reseal(moved)).toBeNull();
    expect(() => box.open(new SecretBox(randomBytes(32)).seal('x'))).toThrow();
    clock.set(RETIRES);
    expect(() => box.open(sealedOld)).toThrow();
    expect(box.open(moved)).toBe('JBSWY3DPEHPK3PXP');
  });

  it('takes a node call signed with the previous key until it retires, and never one signed with a random key', async () => {
    const clock = new ManualClock(Date.now());
    const ring = new SecretRing({
      current: NEW,
      previous: [{ secret: OLD, retiresAt: clock.now() + 3_600_000 }],
      now: () => clock.now(),
    });
    const seen = new MemoryReplayGuard(clock);
    const { app, port } = await startInternalListener({
      host: '127.0.0.1',
      port: 0,
      nodeId: 'node-b',
      key: ring.keys('cluster-internal'),
      now: () => clock.now(),
      firstSeen: (signature, at) => seen.claim('internal-call', signature, 60_000, at),
      handle: async () => 'ran',
      onError: () => {},
    });
    closers.push(() => app.close());
    const url = `http://127.0.0.1:${port}`;
    const caller = (secret: Buffer) => {
      const client = new InternalClient({
        key: deriveKey(secret, 'cluster-internal'),
        nodeId: 'node-a',
        now: () => clock.now(),
      });
      closers.push(async () => client.close());
      return client;
    };
    expect(await caller(NEW).call(url, 'node-b', 'm', {})).toBe('ran');
    expect(await caller(OLD).call(url, 'node-b', 'm', {})).toBe('ran');
    await expect(caller(randomBytes(32)).call(url, 'node-b', 'm', {})).rejects.toThrow(/CALL_UNSIGNED/);
    clock.advance(3_600_000);
    await expect(caller(OLD).call(url, 'node-b', 'm', {})).rejects.toThrow(/CALL_UNSIGNED/);
    expect(await caller(NEW).call(url, 'node-b', 'm', {})).toBe('ran');
  });
});

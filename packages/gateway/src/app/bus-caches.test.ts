/**
 * Caches of what other nodes announce follow the bus's connection (core/event-bus.ts `BusCacheGate`): nothing is
 * kept while it is down, a read that spans a change is not kept, and each change empties the cache. Shown on the
 * gate itself and on the entitlements cache over a real database.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BusCacheGate, InProcessEventBus, ManualClock } from '../core/index.js';
import { EntitlementsCache } from '../entitlements/index.js';
import { HolderView } from '../sessions/holder-view.js';
import { startTestGateway, type TestGateway } from '../test-support/gateway.js';

/** An in-process bus whose connection the test switches. */
class SwitchableBus extends InProcessEventBus {
  #connected = true;
  readonly #listeners = new Set<(connected: boolean) => void>();

  override get connected(): boolean {
    return this.#connected;
  }

  override onConnection(listener: (connected: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  set(connected: boolean): void {
    this.#connected = connected;
    for (const listener of this.#listeners) listener(connected);
  }
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('BusCacheGate', () => {
  it('resets at each change, keeps nothing while the bus is down nor across a change', () => {
    const bus = new SwitchableBus();
    let resets = 0;
    const gate = new BusCacheGate(bus, () => {
      resets += 1;
    });
    const read = gate.epoch();
    expect(gate.mayKeep(read)).toBe(true);
    bus.set(false);
    expect(resets).toBe(1);
    expect(gate.mayKeep(gate.epoch())).toBe(false);
    bus.set(true);
    expect(resets).toBe(2);
    // A read begun before the outage, finished after it: not kept.
    expect(gate.mayKeep(read)).toBe(false);
    expect(gate.mayKeep(gate.epoch())).toBe(true);
    gate.close();
    bus.set(false);
    expect(resets).toBe(2);
  });

  it('leaves the in-process bus always connected', () => {
    const bus = new InProcessEventBus();
    expect(bus.connected).toBe(true);
    const gate = new BusCacheGate(bus, () => {});
    expect(gate.mayKeep(gate.epoch())).toBe(true);
  });
});

describe('the brokerage holder view while the bus is down', () => {
  it('keeps no holder read while the bus is down', () => {
    const bus = new SwitchableBus();
    const view = new HolderView({ bus, clock: new ManualClock(), maxEntries: 10, revalidateAfterMs: 30_000 });
    const holder = { shared: false, holderSessionId: 'ses_1' };
    bus.set(false);
    view.remember('usr_1', holder, view.begin());
    expect(view.current('usr_1')).toBeUndefined();
    bus.set(true);
    view.remember('usr_1', holder, view.begin());
    expect(view.current('usr_1')).toMatchObject(holder);
    view.close();
  });
});

describe('the entitlements cache while the bus is down', () => {
  it('reads the database on every call, empties when the bus drops and again when it is back', async () => {
    const gw: TestGateway = await startTestGateway();
    cleanups.push(() => gw.close());
    const bus = new SwitchableBus();
    const cache = new EntitlementsCache(gw.ctx.store.db, new ManualClock(), bus);
    cleanups.push(() => cache.close());
    const reads = async () => {
      const before = gw.queries.count;
      expect(await cache.get('U1000001')).toBeDefined();
      return gw.queries.count - before;
    };
    expect(await reads()).toBeGreaterThan(0);
    expect(await reads()).toBe(0);
    bus.set(false);
    expect(await reads()).toBeGreaterThan(0);
    expect(await reads()).toBeGreaterThan(0);
    bus.set(true);
    expect(await reads()).toBeGreaterThan(0);
    expect(await reads()).toBe(0);
    // A drop empties what was cached while connected.
    bus.set(false);
    bus.set(true);
    expect(await reads()).toBeGreaterThan(0);
  });
});

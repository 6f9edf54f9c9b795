import { afterEach, describe, expect, it } from 'vitest';
import { Journal, migrateToLatest, openDatabase, type Store } from '../store/index.js';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import { OrderNumbers } from './order-numbers.js';

let store: Store | undefined;
let database: TestDatabase | undefined;
afterEach(async () => {
  await store?.close();
  await database?.drop();
  store = undefined;
  database = undefined;
});

describe.each(testDatabases())('order numbers on %s', (_name, makeDatabase) => {
  it('gives each order one number, unique across listeners racing on one database, and keeps it', async () => {
    database = await makeDatabase();
    store = openDatabase(database.url, database.options);
    await migrateToLatest(store);
    // Two listeners (or two nodes) on one database, each with its own memory of the next number.
    const a = new OrderNumbers(store.db, new Journal(store));
    const b = new OrderNumbers(store.db, new Journal(store));
    const orders = Array.from({ length: 40 }, (_, i) => `ord_${i}`);
    const given = await Promise.all(
      orders.flatMap((id, i) => [
        a.numberOf(id, 'DU1000001'),
        (i % 2 === 0 ? b : a).numberOf(id, 'DU1000001'),
      ]),
    );
    // Both asks for one order answer the same number; different orders never share one.
    for (let i = 0; i < orders.length; i += 1) expect(given[2 * i]).toBe(given[2 * i + 1]);
    const numbers = orders.map((_, i) => given[2 * i] as number);
    expect(new Set(numbers).size).toBe(orders.length);
    expect(Math.min(...numbers)).toBe(1_000_000_001);
    for (const n of numbers) expect(n).toBeLessThan(2 ** 31);

    // A fresh instance (a restart) finds the same numbers, and continues after the highest.
    const restarted = new OrderNumbers(store.db, new Journal(store));
    expect(await restarted.orderOf(numbers[7] as number)).toEqual({
      orderId: 'ord_7',
      accountId: 'DU1000001',
    });
    expect(await restarted.numberOf('ord_7', 'DU1000001')).toBe(numbers[7]);
    expect(await restarted.numberOf('ord_new', 'DU1000001')).toBe(Math.max(...numbers) + 1);
    expect(await restarted.orderOf(42)).toBeUndefined();
    expect(await restarted.orderOf(2 ** 60)).toBeUndefined();
  });
});

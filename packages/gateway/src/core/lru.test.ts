/** The bounded cache: capacity, eviction order, and refresh of hot entries. */
import { describe, expect, it } from 'vitest';
import { LruCache } from './lru.js';

describe('LruCache', () => {
  it('never holds more than its capacity and evicts the oldest entry', () => {
    const cache = new LruCache<string, number>(100);
    for (let i = 0; i < 250; i += 1) cache.set(`k${i}`, i);
    expect(cache.size).toBe(100);
    expect(cache.get('k149')).toBeUndefined();
    expect(cache.get('k150')).toBe(150);
  });

  it('keeps an entry that is read often even as others are inserted', () => {
    const cache = new LruCache<string, number>(100);
    cache.set('hot', 1);
    for (let i = 0; i < 1_000; i += 1) {
      cache.set(`cold${i}`, i);
      expect(cache.get('hot')).toBe(1);
    }
    expect(cache.size).toBe(100);
  });

  it('deletes by key and by predicate', () => {
    const cache = new LruCache<string, number>(10);
    for (let i = 0; i < 6; i += 1) cache.set(`k${i}`, i);
    expect(cache.delete('k0')).toBe(true);
    expect(cache.deleteWhere((v) => v % 2 === 1)).toBe(3);
    expect(cache.size).toBe(2);
    cache.clear();
    expect(cache.size).toBe(0);
  });
});

/**
 * @module core/lru
 * A bounded map for hot-path caches. A hit re-inserts the entry (making it the most recently used) only when it
 * was last refreshed more than `refreshAfter` reads ago, so the common read is a plain Map lookup with no
 * mutation; eviction drops the oldest-inserted entry, which approximates least-recently-used closely enough for
 * session caches whose live entries are re-inserted on every revalidation anyway.
 */
export class LruCache<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, { value: V; stamp: number }>();
  #reads = 0;
  readonly #refreshAfter: number;

  constructor(maxEntries: number) {
    this.#max = maxEntries;
    // Re-insert a hit once it has fallen behind a tenth of the cache's capacity in reads.
    this.#refreshAfter = Math.max(1, Math.floor(maxEntries / 10));
  }

  get(key: K): V | undefined {
    const slot = this.#map.get(key);
    if (slot === undefined) return undefined;
    this.#reads += 1;
    if (this.#reads - slot.stamp > this.#refreshAfter) {
      slot.stamp = this.#reads;
      this.#map.delete(key);
      this.#map.set(key, slot);
    }
    return slot.value;
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, { value, stamp: this.#reads });
    if (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next();
      if (oldest.done !== true) this.#map.delete(oldest.value);
    }
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  /** Removes every entry for which `predicate` is true. */
  deleteWhere(predicate: (value: V, key: K) => boolean): number {
    let removed = 0;
    for (const [key, slot] of this.#map) {
      if (predicate(slot.value, key)) {
        this.#map.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  /**
   * Removes entries from the oldest while `predicate` holds, at most `limit` of them: with entries that expire in
   * the order they were set, a small limit per insertion keeps the cache to its live entries at O(1) a call.
   */
  dropOldestWhile(predicate: (value: V, key: K) => boolean, limit = Number.POSITIVE_INFINITY): number {
    let removed = 0;
    for (const [key, slot] of this.#map) {
      if (removed >= limit || !predicate(slot.value, key)) break;
      this.#map.delete(key);
      removed += 1;
    }
    return removed;
  }

  get size(): number {
    return this.#map.size;
  }

  clear(): void {
    this.#map.clear();
  }
}

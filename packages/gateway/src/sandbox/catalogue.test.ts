/**
 * Every fault of the catalogue has a test of its own family that injects it and shows what follows downstream
 * (docs/sandbox.md, Faults): a kind added to `FAULT_CATALOGUE` without one fails here, and so does a family test
 * file that names a kind the catalogue does not have.
 */
import { readFileSync } from 'node:fs';
import { FAULT_CATALOGUE, FAULT_KINDS } from '@gatehouse/protocol';
import { describe, expect, it } from 'vitest';

const FAMILY_TESTS = {
  factors: 'factors.test.ts',
  sessions: 'sessions.test.ts',
  entitlements: 'entitlements.test.ts',
  orders: 'orders.test.ts',
  transport: 'transport.test.ts',
} as const;

const text = (file: string) => readFileSync(new URL(file, import.meta.url), 'utf8');

describe('the fault catalogue', () => {
  it('has a test for every kind, in its family’s file', () => {
    const untested = FAULT_KINDS.filter((kind) => {
      const { family } = FAULT_CATALOGUE[kind];
      // `maintenance` acts in the HTTP layer, as the transport family's faults do.
      const file = kind === 'maintenance' ? FAMILY_TESTS.transport : FAMILY_TESTS[family];
      return !text(file).includes(`'${kind}'`);
    });
    expect(untested).toEqual([]);
  });

  it('names only kinds it has in the family tests', () => {
    const named = new Set<string>();
    for (const file of Object.values(FAMILY_TESTS))
      for (const match of text(file).matchAll(/kind: '([a-z_]+\.[a-z_.]+)'/g)) named.add(match[1] ?? '');
    expect([...named].filter((kind) => !(FAULT_KINDS as string[]).includes(kind))).toEqual([]);
    expect(named.size).toBeGreaterThan(5);
  });
});

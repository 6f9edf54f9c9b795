import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { resetsAwayFrom } from './packages/gateway/src/test-support/resets.js';

export default defineConfig({
  resolve: {
    // Workspace packages are tested from their sources, so a change needs no build first.
    alias: {
      '@gatehouse/gateway/testing': fileURLToPath(
        new URL('./packages/gateway/src/testing.ts', import.meta.url),
      ),
      '@gatehouse/protocol': fileURLToPath(new URL('./packages/protocol/src/index.ts', import.meta.url)),
      '@gatehouse/sdk/node': fileURLToPath(new URL('./packages/sdk/src/node.ts', import.meta.url)),
      '@gatehouse/sdk': fileURLToPath(new URL('./packages/sdk/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'e2e/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Argon2 hashing and PostgreSQL schemas make files heavy; two workers suit the 2-core target machine.
    maxWorkers: 2,
    // Every gateway process a test starts inherits this, unless set already: its daily resets 12 h away, so a run on
    // the real clock never crosses one (in-process gateways take no settings from the environment; their clock is
    // frozen).
    env: { GATEHOUSE_BROKERAGE_RESETS: process.env.GATEHOUSE_BROKERAGE_RESETS ?? resetsAwayFrom(Date.now()) },
  },
});

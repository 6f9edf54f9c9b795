import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'e2e/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Argon2 hashing and PostgreSQL schemas make files heavy; two workers suit the 2-core target machine.
    maxWorkers: 2,
  },
});

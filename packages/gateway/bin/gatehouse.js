#!/usr/bin/env node
// The `gatehouse` command. The TypeScript sources are compiled to dist/ by `npm install` (prepare) or `npm run build`.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('gatehouse is not built yet: run `npm run build` in the repository root.');
  process.exit(1);
}
await import(entry.href);

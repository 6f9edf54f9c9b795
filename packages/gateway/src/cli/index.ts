/** @module cli — the `gatehouse` command (entry point: `main.ts`). */
export { registerCommands, reportError } from './commands.js';

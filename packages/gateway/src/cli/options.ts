/**
 * @module cli/options
 * Shared flag handling: `--db` and `--config` become configuration overrides, so commands and the server read
 * settings the same way.
 */
import { type Config, type ConfigInput, loadConfig } from '../config/index.js';

export interface CommonFlags {
  db?: string;
  config?: string;
}

export function configFromFlags(flags: CommonFlags, extra: ConfigInput = {}): Config {
  const overrides: ConfigInput = { ...extra };
  if (flags.db !== undefined) overrides.database = { ...overrides.database, url: flags.db };
  return loadConfig({ overrides, ...(flags.config === undefined ? {} : { file: flags.config }) });
}

/** Reads all of standard input (for secrets passed with `--password-stdin`). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/**
 * @module authenticator/key-file
 * The device identity on disk: JSON, mode 0600. A file readable by others, or one that is not a device identity,
 * is refused with a clear message rather than used.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DeviceIdentity } from './device.js';

export function defaultKeyFile(): string {
  return join(homedir(), '.gatehouse', 'authenticator.json');
}

export function saveIdentity(file: string, identity: DeviceIdentity): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

export function loadIdentity(file: string): DeviceIdentity {
  if (!existsSync(file))
    throw new Error(`no authenticator at ${file}: run \`gatehouse authenticator enroll <uri>\` first`);
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(`${file} is readable by others (mode ${mode.toString(8)}); run chmod 600 on it`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`${file} is not valid JSON`);
  }
  const v = parsed as Partial<DeviceIdentity>;
  if (typeof v.server !== 'string' || typeof v.deviceId !== 'string' || typeof v.privateKey !== 'object') {
    throw new Error(`${file} is not a Gatehouse authenticator identity`);
  }
  return v as DeviceIdentity;
}

/**
 * What every end-to-end rig needs on this machine: a free loopback port, and a TOTP code no login of this process
 * has used yet.
 */
import { createServer } from 'node:net';
import { totpCode } from '../../packages/gateway/src/factors/index.js';

/** A loopback port nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

const lastStep = new Map<string, number>();

/**
 * A fresh TOTP code per login: the gateway refuses a time step already used (replay), so successive logins of one
 * user take the next step in the accepted window (±1 step), waiting for time to move on when it is used up.
 */
export async function nextTotp(secret: string): Promise<string> {
  for (;;) {
    const step = Math.floor(Date.now() / 30_000);
    const next = Math.max(step, (lastStep.get(secret) ?? step - 1) + 1);
    // Keep a margin from the window's edge, so the step is still accepted when the request arrives.
    if (next === step || (next === step + 1 && Date.now() % 30_000 > 1_000)) {
      lastStep.set(secret, next);
      return totpCode(secret, next * 30_000);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * A gateway in the test's process that programs in other processes reach over loopback HTTP: demo data, an
 * in-memory database, and the wall clock, because those programs sign JWTs and compute TOTP codes with theirs.
 * The paper engine matches nothing by itself, so an order a program places stays open until the test says.
 */
import { ManualClock } from '../../packages/gateway/src/core/index.js';
import { startTestGateway, type TestGateway } from '../../packages/gateway/src/test-support/gateway.js';

/** Real time for a test gateway: `advance` and `set` (which loginAs calls) do not move it. */
class WallClock extends ManualClock {
  override now(): number {
    return Date.now();
  }

  override advance(): void {}

  override set(): void {}
}

export interface LiveGateway {
  gw: TestGateway;
  /** The gateway's public URL (its listener's, on loopback): what a program calls and signs its DPoP proofs for. */
  base: string;
  /** The OAuth issuer (the `aud` of a client assertion), as the gateway's metadata states it. */
  issuer: string;
  stop(): Promise<void>;
}

export async function startLiveGateway(): Promise<LiveGateway> {
  const gw = await startTestGateway({
    clock: new WallClock(),
    // Every CLI run of a test logs in from loopback: the per-address limit is not what is tested here.
    config: { server: { port: 0, host: '127.0.0.1' }, login: { ipRateLimitMax: 1_000 } },
  });
  await gw.listen();
  return { gw, base: gw.ctx.urls.base, issuer: gw.ctx.urls.issuer, stop: () => gw.close() };
}

/** The supervisor's clock against a real gateway: a clock minutes off is corrected from the server's `Date`. */
import {
  ALICE,
  loginAs,
  registerBot,
  type TestGateway,
  type TestGatewayOptions,
} from '@gatehouse/gateway/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionSupervisor } from './index.js';
import { botOptions, listeningGateway, skewed } from './test-support.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function gateway(config: TestGatewayOptions['config'] = {}) {
  const started = await listeningGateway(config);
  gw = started.g;
  return started;
}

describe('ServerClock', () => {
  it('corrects a clock that is minutes off from the server’s Date header', async () => {
    const { g, base, issuer } = await gateway();
    const bot = await registerBot(g, await loginAs(g, ALICE));
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      scheduler: skewed(g, -7 * 60_000), // this machine is 7 minutes slow
      keepAliveMs: null,
    });
    await supervisor.start();
    expect(Math.round(supervisor.clock.offsetMs / 1000)).toBe(7 * 60);
    expect(await supervisor.request('GET', '/v1/session')).toMatchObject({ session: { channel: 'api' } });
    supervisor.stop();
  });
});

/** `/metrics`: sessions by channel and tier, logins by result, second-factor latency, takeovers. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALICE, loginAs, startLogin, startTestGateway, type TestGateway } from '../test-support/gateway.js';

let gw: TestGateway;
beforeEach(async () => {
  gw = await startTestGateway();
});
afterEach(async () => {
  await gw.close();
});

async function scrape(): Promise<string> {
  const response = await gw.app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toContain('text/plain');
  return response.body;
}

describe('/metrics', () => {
  it('counts logins, times the second factor, and reports sessions by channel and tier and takeovers', async () => {
    await startLogin(gw, ALICE.username, 'wrong-password');
    const bot = await loginAs(gw, ALICE);
    const phone = await loginAs(gw, ALICE);
    for (const [as, compete] of [
      [bot, false],
      [phone, true],
    ] as const) {
      await gw.app.inject({
        method: 'POST',
        url: '/v1/session/brokerage',
        headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
        payload: { compete },
      });
    }
    const text = await scrape();
    expect(text).toMatch(/gatehouse_logins_total\{channel="web",result="invalid_credentials"\} 1/);
    expect(text).toMatch(/gatehouse_logins_total\{channel="web",result="success"\} 2/);
    expect(text).toMatch(/gatehouse_second_factor_seconds_count\{factor="totp"\} 2/);
    expect(text).toMatch(/gatehouse_active_sessions\{channel="web",tier="brokerage"\} 1/);
    expect(text).toMatch(/gatehouse_active_sessions\{channel="web",tier="read_only"\} 1/);
    expect(text).toMatch(/gatehouse_brokerage_takeovers_total\{channel="web"\} 1/);
    expect(text).toContain('gatehouse_process_cpu_seconds_total');
  });
});

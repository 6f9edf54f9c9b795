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

describe('re-authentication latency', () => {
  it('measures from a trading session’s loss to the next trading session on that channel', async () => {
    const first = await loginAs(gw, ALICE);
    const brokerage = (as: typeof first) =>
      gw.app.inject({
        method: 'POST',
        url: '/v1/session/brokerage',
        headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
        payload: { compete: false },
      });
    expect((await brokerage(first)).statusCode).toBe(200);
    // A first trading session follows no loss: nothing is observed.
    expect(await scrape()).not.toMatch(/gatehouse_reauthentication_seconds_count\{channel="web"\}/);
    gw.clock.advance(10_000);
    await gw.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      headers: { cookie: first.cookie, 'x-csrf-token': first.csrf },
    });
    const second = await loginAs(gw, ALICE); // 30 s after the logout on the test clock
    expect((await brokerage(second)).statusCode).toBe(200);
    const text = await scrape();
    expect(text).toMatch(/gatehouse_reauthentication_seconds_count\{channel="web"\} 1/);
    expect(text).toMatch(/gatehouse_reauthentication_seconds_sum\{channel="web"\} 30\b/);

    // Trading passed between two web sessions and back: the web channel never lacked it, so nothing is observed.
    const other = await loginAs(gw, ALICE);
    await gw.app.inject({
      method: 'POST',
      url: '/v1/session/brokerage',
      headers: { cookie: other.cookie, 'x-csrf-token': other.csrf },
      payload: { compete: true },
    });
    gw.clock.advance(45_000);
    await gw.app.inject({
      method: 'POST',
      url: '/v1/session/brokerage',
      headers: { cookie: second.cookie, 'x-csrf-token': second.csrf },
      payload: { compete: true },
    });
    const later = await scrape();
    expect(later).toMatch(/gatehouse_reauthentication_seconds_count\{channel="web"\} 1/);
  });
});

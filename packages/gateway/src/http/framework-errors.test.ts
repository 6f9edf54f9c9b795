/**
 * Fastify's own refusals before a route is found — a path parameter longer than its router allows, a malformed
 * percent escape — answer the gateway's coded envelope (`INVALID_REQUEST`), never Fastify's `FST_ERR_*`, and do
 * not echo the path back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { errorCode, startTestGateway, type TestGateway } from '../test-support/gateway.js';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

describe('refusals before routing', () => {
  it('answers a too-long path parameter and a malformed escape as INVALID_REQUEST, without the path', async () => {
    gw = await startTestGateway();
    const long = 'x'.repeat(150);
    for (const url of [
      `/v1/devices/push/${long}`,
      `/v1/auth/login/${long}/simulated-texts`,
      '/v1/devices/push/%ZZ',
    ]) {
      const answer = await gw.app.inject({ method: 'GET', url });
      expect(answer.statusCode, url).toBe(400);
      expect(errorCode(answer), url).toBe('INVALID_REQUEST');
      expect(answer.body, url).not.toContain('FST_ERR');
      expect(answer.body, url).not.toContain(long);
    }
  });
});

/**
 * Faults on an API client at the OAuth endpoints act only on the client's own requests — those whose client
 * assertion verifies: a stranger naming its `client_id` (with no assertion, or one signed with another key) gets the
 * answer they would get with no fault, spends none of the fault's `afterRequests` count and adds no hit, so the
 * client's drill is not changed and nobody learns a fault is there.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ALICE, loginAs, startTestGateway, type TestGateway } from '../test-support/gateway.js';
import { registerBot, TestProgram } from '../test-support/program.js';
import type { Sandbox } from './index.js';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const OPERATOR = { type: 'operator' } as const;

async function start(): Promise<Sandbox> {
  gw = await startTestGateway({ config: { sandbox: { enabled: true } } });
  if (gw.ctx.sandbox === null) throw new Error('sandbox off');
  return gw.ctx.sandbox;
}

/** A stranger's token request naming the client: no assertion, no DPoP proof. */
function bare(clientId: string): Promise<LightMyRequestResponse> {
  return gw.app.inject({
    method: 'POST',
    url: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId }).toString(),
  });
}

/** A stranger's token request with an assertion naming the client, signed with the stranger's own key. */
function forged(clientId: string): Promise<LightMyRequestResponse> {
  const stranger = new TestProgram(gw);
  stranger.clientId = clientId;
  return stranger.form('/oauth2/token', { grant_type: 'client_credentials' });
}

const hitsOf = async (sandbox: Sandbox, id: string) => (await sandbox.list()).find((f) => f.id === id)?.hits;

describe('client faults at the OAuth endpoints', () => {
  for (const fault of [
    { kind: 'refresh.refused', params: { status: 503 } },
    { kind: 'http.error', params: { status: 503 } },
  ] as const) {
    it(`${fault.kind} acts on the client’s authenticated requests only: strangers spend none of its count`, async () => {
      const sandbox = await start();
      const bot = await registerBot(gw, await loginAs(gw, ALICE));
      // The answers a stranger gets with no fault there.
      const unfaulted = [(await bare(bot.clientId)).statusCode, (await forged(bot.clientId)).statusCode];
      expect(unfaulted.every((status) => status >= 400 && status < 500)).toBe(true);
      const injected = await sandbox.inject(
        {
          kind: fault.kind,
          target: { type: 'client', id: bot.clientId },
          params: fault.params,
          schedule: { afterRequests: 2, durationMs: 60_000 },
        },
        OPERATOR,
      );
      for (let i = 0; i < 3; i += 1) {
        expect((await bare(bot.clientId)).statusCode).toBe(unfaulted[0]);
        expect((await forged(bot.clientId)).statusCode).toBe(unfaulted[1]);
      }
      expect(await hitsOf(sandbox, injected.id)).toBe(0);
      // The client's own requests: the first two pass (its count), the third is struck.
      const token = () => bot.form('/oauth2/token', { grant_type: 'client_credentials' });
      expect((await token()).statusCode).toBe(200);
      expect((await token()).statusCode).toBe(200);
      expect((await token()).statusCode).toBe(503);
      expect(await hitsOf(sandbox, injected.id)).toBe(1);
    });
  }
});

describe('a recording of a client', () => {
  it('takes no token request from a stranger naming the client, only the client’s own', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const started = await gw.app.inject({
      method: 'POST',
      url: '/v1/sandbox/recordings',
      headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrf },
      payload: { clientId: bot.clientId, accountId: 'DU1000001' },
    });
    expect(started.statusCode).toBe(201);
    const { id } = started.json() as { id: string };
    for (let i = 0; i < 3; i += 1) {
      await bare(bot.clientId);
      await forged(bot.clientId);
    }
    expect((await bot.form('/oauth2/token', { grant_type: 'client_credentials' })).statusCode).toBe(200);
    const read = await gw.app.inject({
      method: 'GET',
      url: `/v1/sandbox/recordings/${id}`,
      headers: { cookie: alice.cookie },
    });
    const { tokenRequests } = read.json() as { tokenRequests: { outcome: string }[] };
    expect(tokenRequests.map((t) => t.outcome)).toEqual(['issued']);
  });
});

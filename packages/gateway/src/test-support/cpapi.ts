/**
 * A test gateway with one CPAPI listener beside it (not listening: driven with `inject`), holding a demo user's
 * session by a headless login unless told otherwise. Every answer a test gets through `inject` is held to the face's
 * OpenAPI document, made from its wire schemas (`cpapi/openapi`).
 */
import type { LightMyRequestResponse } from 'fastify';
import { buildOne } from '../app/cpapi.js';
import type { ConfigInput } from '../config/index.js';
import type { ManualClock } from '../core/index.js';
import type { CpapiListener, HeadlessCredentials } from '../cpapi/index.js';
import { faceOpenApi } from '../cpapi/openapi.js';
import type { TestDatabase } from './databases.js';
import { ALICE, startTestGateway, type TestGateway } from './gateway.js';
import { checkResponses } from './openapi.js';

export interface CpapiTest {
  gw: TestGateway;
  listener: CpapiListener;
  /** A request to the face; paths are under `/v1/api` (`/tickle`); a POST without a payload sends `{}`. */
  call(method: 'GET' | 'POST' | 'DELETE', path: string, payload?: unknown): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export interface CpapiTestOptions {
  config?: ConfigInput;
  database?: TestDatabase;
  /** The demo user the listener logs in as (default Alice); null: no headless login (the login page's tests). */
  user?: { username: string; password: string; totpSecret: string } | null;
  /** IBKR's pacing on the listener (default off, so tests may call an endpoint more than once a second). */
  pacing?: boolean;
  clock?: ManualClock;
}

export async function startCpapiTest(options: CpapiTestOptions = {}): Promise<CpapiTest> {
  const gw = await startTestGateway({
    ...(options.database === undefined ? {} : { database: options.database }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    config: { ...options.config, cpapi: { pacing: options.pacing ?? false, ...options.config?.cpapi } },
  });
  const user = options.user === undefined ? ALICE : options.user;
  const credentials: HeadlessCredentials | undefined =
    user === null
      ? undefined
      : { username: user.username, password: user.password, totpSecret: user.totpSecret };
  const listener = await buildOne(gw.ctx, { host: '127.0.0.1', port: 0, tls: 'off' }, credentials);
  // Every answer a test gets from the face is held to the face's OpenAPI document (made from the wire schemas).
  checkResponses(listener.app, faceOpenApi());
  if (credentials !== undefined) {
    gw.clock.advance(30_000);
    await listener.held.loginHeadless();
  }
  return {
    gw,
    listener,
    call(method, path, payload) {
      const body = payload ?? (method === 'POST' ? {} : undefined);
      return listener.app.inject({
        method,
        url: `/v1/api${path}`,
        remoteAddress: '127.0.0.1',
        ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
      });
    },
    async close() {
      await listener.close();
      await gw.close();
    },
  };
}

/** The face's status answers in IBKR's shapes, from each state of the session it holds. */
import type { SessionState } from '@gatehouse/protocol';
import { describe, expect, it } from 'vitest';
import { authStatus, type FaceIdentity, tickleBody } from './status.js';
import { authStatusResponseSchema, tickleResponseSchema } from './wire/index.js';

const face: FaceIdentity = {
  mac: '02:00:00:00:00:01',
  serverInfo: { serverName: 'gatehouse', serverVersion: 'Gatehouse 0.1.0' },
};
const state = (over: Partial<SessionState> = {}): SessionState => ({
  tier: 'brokerage',
  competing: false,
  stepUpRequired: false,
  idleExpiresInMs: 300_000,
  expiresInMs: 80_000_000,
  nextResetAt: '2026-06-16T04:00:00.000Z',
  ...over,
});

describe('the face’s auth status', () => {
  it('says authenticated only while the held session trades', () => {
    const live = authStatus({ kind: 'live', state: state() }, face);
    expect(authStatusResponseSchema.parse(live)).toMatchObject({
      authenticated: true,
      competing: false,
      connected: true,
      MAC: face.mac,
    });
    expect(authStatus({ kind: 'live', state: state({ tier: 'read_only' }) }, face)).toMatchObject({
      authenticated: false,
      competing: false,
      connected: true,
    });
    expect(
      authStatus({ kind: 'live', state: state({ tier: 'read_only', competing: true }) }, face),
    ).toMatchObject({
      authenticated: false,
      competing: true,
      connected: true,
    });
    expect(authStatus({ kind: 'live', state: state({ stepUpRequired: true }) }, face)).toMatchObject({
      authenticated: false,
      connected: true,
    });
  });

  it('stays connected but not authenticated when the login expired, and neither when there is none', () => {
    for (const held of [{ kind: 'expired' }, { kind: 'none' }] as const) {
      const status = authStatusResponseSchema.parse(authStatus(held, face));
      expect(status).toMatchObject({
        authenticated: false,
        competing: false,
        connected: held.kind === 'expired',
      });
    }
  });

  it('answers tickle with the nearer end of the login, collission while competing, and the status inside', () => {
    const body = tickleBody(
      { kind: 'live', state: state({ tier: 'read_only', competing: true, idleExpiresInMs: 12_345 }) },
      face,
      { session: 'abc123', userId: 7 },
    );
    expect(tickleResponseSchema.parse(body)).toMatchObject({
      session: 'abc123',
      ssoExpires: 12_345,
      collission: true,
      userId: 7,
      iserver: { authStatus: { authenticated: false, competing: true, connected: true } },
    });
    expect(
      tickleBody({ kind: 'live', state: state({ expiresInMs: 1_000 }) }, face, { session: 's', userId: 1 })
        .ssoExpires,
    ).toBe(1_000);
  });
});

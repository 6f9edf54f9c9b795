/**
 * @module sandbox/drill/fixtures
 * Hand-built recordings, for the grading and report tests and for trying the report's renderers without a gateway:
 * a small builder on seconds from the start (`at(12.5)`), and two bots facing the same three faults (a revoked
 * token, a competing login, a maintenance window) — one that behaves and one that retries blindly, lets its token
 * expire, leaves an order orphaned and places an order twice.
 */
import type {
  FaultKind,
  RecordedFault,
  RecordedOrder,
  RecordedPlacement,
  RecordedRequest,
  Recording,
} from '@gatehouse/protocol';

export const FIXTURE_START = Date.UTC(2026, 5, 15, 15, 0);
export const FIXTURE_SESSION = 'ses_bot';
export const FIXTURE_SUBJECT = { userId: 'usr_bot', clientId: 'cli_bot', accountId: 'DU1000001' };

/** The instant `seconds` after the fixture's start. */
export const at = (seconds: number): string =>
  new Date(FIXTURE_START + Math.round(seconds * 1000)).toISOString();

/** An empty recording of 300 s. */
export function emptyRecording(overrides: Partial<Recording> = {}): Recording {
  return {
    id: 'rec_fixture',
    subject: FIXTURE_SUBJECT,
    state: 'stopped',
    startedAt: at(0),
    endedAt: at(300),
    sessions: [FIXTURE_SESSION],
    requests: [],
    dropped: 0,
    tokenRequests: [],
    placements: [],
    cancels: [],
    sessionChanges: [],
    streams: [],
    deadMan: [],
    faults: [],
    events: [],
    orders: [],
    ...overrides,
  };
}

export function request(seconds: number, fields: Partial<Omit<RecordedRequest, 'at'>> = {}): RecordedRequest {
  return {
    at: at(seconds),
    method: 'GET',
    route: '/v1/session',
    status: 200,
    code: null,
    sessionId: FIXTURE_SESSION,
    tokenExpired: false,
    ...fields,
  };
}

/** A placement and the request that carried it (the recorder records both). */
export function place(
  recording: Recording,
  seconds: number,
  clientOrderId: string,
  outcome: RecordedPlacement['outcome'],
  code: string | null = null,
  orderId: string | null = null,
): void {
  const status = { accepted: 201, existing: 200, confirmation_required: 409, no_response: 0, refused: 422 }[
    outcome
  ];
  const refusedStatus = code === null ? status : code === 'INVALID_TOKEN' ? 401 : 409;
  const finalStatus = outcome === 'refused' ? refusedStatus : status;
  recording.placements.push({
    at: at(seconds),
    clientOrderId,
    orderId,
    outcome,
    status: finalStatus,
    code,
    sessionId: FIXTURE_SESSION,
  });
  if (outcome !== 'no_response')
    recording.requests.push(
      request(seconds, {
        method: 'POST',
        route: '/v1/accounts/:accountId/orders',
        status: finalStatus,
        code,
      }),
    );
}

export function order(
  orderId: string,
  clientOrderId: string,
  createdAt: number,
  fields: Partial<RecordedOrder> = {},
): RecordedOrder {
  return {
    orderId,
    clientOrderId,
    sessionId: FIXTURE_SESSION,
    instrumentId: 265598,
    side: 'BUY',
    type: 'LMT',
    quantity: 1,
    limitPrice: 180,
    tif: 'DAY',
    status: 'working',
    createdAt: at(createdAt),
    updatedAt: at(createdAt),
    ...fields,
  };
}

export function fault(
  id: string,
  kind: FaultKind,
  mode: 'action' | 'condition',
  from: number,
  to: number | null = null,
): RecordedFault {
  return {
    id,
    kind,
    mode,
    target: { type: 'client', id: FIXTURE_SUBJECT.clientId },
    params: {},
    startsAt: at(from),
    endsAt: to === null ? null : at(to),
    state: 'done',
    hits: 1,
    note: null,
  };
}

/** The three faults both bots face: a revoked token at +60 s, a competing login at +120 s, maintenance +180–200 s. */
export const FIXTURE_FAULTS: readonly RecordedFault[] = [
  fault('flt_token', 'token.revoked', 'action', 60),
  fault('flt_competing', 'login.competing', 'action', 120),
  fault('flt_maintenance', 'maintenance', 'condition', 180, 200),
];

/** Every `step` seconds in `[from, to)`, skipping the listed seconds. */
function every(from: number, to: number, step: number, skip: readonly number[] = []): number[] {
  const out: number[] = [];
  for (let s = from; s < to; s += step) if (!skip.includes(s)) out.push(s);
  return out;
}

const sortRecording = (recording: Recording): Recording => {
  recording.requests.sort((a, b) => a.at.localeCompare(b.at));
  recording.placements.sort((a, b) => a.at.localeCompare(b.at));
  return recording;
};

/**
 * A bot that behaves: it refreshes after the revocation and retries once, watches its stream and takes trading back
 * after the competing login before placing again, backs off through maintenance, keeps a dead-man switch armed,
 * cancels what it means to and resumes its stream from the last sequence it had.
 */
export function goodBot(): Recording {
  const r = emptyRecording({ faults: [...FIXTURE_FAULTS] });
  for (const s of every(0, 300, 5, [60, 180, 185, 190, 195, 200])) r.requests.push(request(s));
  r.requests.push(request(60, { status: 401, code: 'INVALID_TOKEN', sessionId: FIXTURE_SESSION }));
  r.tokenRequests.push({
    at: at(60.5),
    grantType: 'client_credentials',
    outcome: 'issued',
    status: 200,
    error: null,
    refreshRef: null,
    retry: false,
  });
  r.requests.push(request(61));
  r.requests.push(request(180, { status: 503, code: 'SERVICE_UNAVAILABLE' }));
  r.requests.push(request(200.5));
  r.requests.push(request(125, { method: 'POST', route: '/v1/session/brokerage' }));
  for (const s of every(5, 300, 10))
    r.deadMan.push({
      at: at(s),
      action: 'armed',
      scope: 'session',
      sessionId: FIXTURE_SESSION,
      timeoutMs: 30_000,
    });
  place(r, 10, 'g-1', 'accepted', null, 'ord_1');
  place(r, 130, 'g-2', 'accepted', null, 'ord_2');
  r.orders.push(
    order('ord_1', 'g-1', 10, { status: 'cancelled', updatedAt: at(250) }),
    order('ord_2', 'g-2', 130, { side: 'SELL', status: 'filled', updatedAt: at(150.5) }),
  );
  r.events.push(
    { seq: 1, at: at(10), type: 'accepted', orderId: 'ord_1', clientOrderId: 'g-1', by: null },
    { seq: 2, at: at(130), type: 'accepted', orderId: 'ord_2', clientOrderId: 'g-2', by: null },
    { seq: 3, at: at(150.5), type: 'filled', orderId: 'ord_2', clientOrderId: null, by: null },
    { seq: 4, at: at(250), type: 'cancelled', orderId: 'ord_1', clientOrderId: null, by: 'user' },
  );
  r.requests.push(request(250, { method: 'DELETE', route: '/v1/accounts/:accountId/orders/:orderId' }));
  r.cancels.push({
    at: at(250),
    orderId: 'ord_1',
    status: 200,
    code: null,
    tookEffect: true,
    effectAt: at(250),
  });
  r.sessionChanges.push(
    { at: at(2), sessionId: FIXTURE_SESSION, change: 'brokerage_acquired', own: true, reason: null },
    { at: at(120), sessionId: 'ses_phone', change: 'brokerage_acquired', own: false, reason: null },
    { at: at(120), sessionId: FIXTURE_SESSION, change: 'competing', own: true, reason: 'taken by ses_phone' },
    { at: at(125), sessionId: FIXTURE_SESSION, change: 'brokerage_acquired', own: true, reason: null },
  );
  r.streams.push(
    { at: at(1), event: 'open', sessionId: FIXTURE_SESSION, stream: 1, after: null },
    { at: at(150), event: 'close', sessionId: FIXTURE_SESSION, stream: 1, after: null },
    { at: at(151), event: 'open', sessionId: FIXTURE_SESSION, stream: 2, after: 2 },
  );
  return sortRecording(r);
}

/**
 * A naive bot: after the revocation it retries blindly (50 requests in a second), later lets its token expire,
 * places orders while competing, never arms a dead-man switch (its first order is left working when it loses
 * trading), and after an order whose answer was lost places the same order again under a new `clientOrderId`.
 */
export function naiveBot(): Recording {
  const r = emptyRecording({ faults: [...FIXTURE_FAULTS] });
  for (const s of every(0, 300, 5, [60, 100, 180, 185, 190, 195])) r.requests.push(request(s));
  for (let i = 0; i < 50; i += 1)
    r.requests.push(request(60 + i * 0.02, { status: 401, code: 'INVALID_TOKEN' }));
  r.tokenRequests.push({
    at: at(61),
    grantType: 'client_credentials',
    outcome: 'issued',
    status: 200,
    error: null,
    refreshRef: null,
    retry: false,
  });
  r.requests.push(request(62));
  r.requests.push(request(100, { status: 401, code: 'INVALID_TOKEN', tokenExpired: true }));
  r.requests.push(request(101, { status: 401, code: 'INVALID_TOKEN', tokenExpired: true }));
  r.tokenRequests.push({
    at: at(101.5),
    grantType: 'client_credentials',
    outcome: 'issued',
    status: 200,
    error: null,
    refreshRef: null,
    retry: false,
  });
  r.requests.push(request(102));
  r.requests.push(request(182, { status: 503, code: 'SERVICE_UNAVAILABLE' }));
  r.requests.push(request(201));
  place(r, 10, 'n-1', 'accepted', null, 'ord_x');
  place(r, 121, 'n-2', 'refused', 'SESSION_COMPETING');
  place(r, 122, 'n-3', 'refused', 'SESSION_COMPETING');
  r.requests.push(request(125, { method: 'POST', route: '/v1/session/brokerage' }));
  place(r, 130, 'n-4', 'no_response', null, 'ord_a');
  place(r, 131, 'n-5', 'accepted', null, 'ord_b');
  r.orders.push(order('ord_x', 'n-1', 10), order('ord_a', 'n-4', 130), order('ord_b', 'n-5', 131));
  r.events.push(
    { seq: 1, at: at(10), type: 'accepted', orderId: 'ord_x', clientOrderId: 'n-1', by: null },
    { seq: 2, at: at(130), type: 'accepted', orderId: 'ord_a', clientOrderId: 'n-4', by: null },
    { seq: 3, at: at(131), type: 'accepted', orderId: 'ord_b', clientOrderId: 'n-5', by: null },
  );
  r.sessionChanges.push(
    { at: at(2), sessionId: FIXTURE_SESSION, change: 'brokerage_acquired', own: true, reason: null },
    { at: at(120), sessionId: FIXTURE_SESSION, change: 'competing', own: true, reason: 'taken by ses_phone' },
    { at: at(125), sessionId: FIXTURE_SESSION, change: 'brokerage_acquired', own: true, reason: null },
  );
  return sortRecording(r);
}

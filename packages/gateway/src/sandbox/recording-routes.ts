/**
 * @module sandbox/recording-routes
 * A drill's recording over HTTP, registered only on a gateway whose sandbox is on (elsewhere these paths answer
 * `404`, as an unknown one does). Start one for an API client on an account, read it (the `Recording` of
 * `@gatehouse/protocol`, which `gatehouse drill` grades), stop it. Two callers, on two paths, as the sandbox's
 * control splits them (sandbox/routes.ts):
 *
 * - a person, through their own session: `POST /v1/sandbox/recordings` {clientId, accountId},
 *   `GET|DELETE /v1/sandbox/recordings/{id}` — their own client and account only (another's → `FORBIDDEN`), and
 *   recordings they started or that follow them;
 * - an operator, with the admin API token: the same under `/v1/admin/sandbox/recordings`, for any client — for an
 *   app, of the user `userId` names (served only when `secrets.adminApiToken` is set).
 *
 * A recording holds only its subject's activity (`resolveSubject`): one user's use of the client.
 *
 * Programs may not (`API_NOT_ALLOWED`): a bot does not record, read or stop the recording that grades it.
 */
import {
  recordingParamsSchema,
  recordingRequestSchema,
  recordingSchema,
  recordingStartedSchema,
  recordingStoppedSchema,
} from '@gatehouse/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { GatehouseError } from '../core/index.js';
import { type Authenticator, type Operation, operation, parseWith, principalOf } from '../http/index.js';
import type { Database } from '../store/index.js';
import type { DrillRecorders } from './recorder.js';
import { resolveSubject } from './recorder-subject.js';

/** What these routes need of the gateway. */
export interface RecordingRoutesDeps {
  auth: Authenticator;
  db: Kysely<Database>;
  recorders: Pick<DrillRecorders, 'start' | 'get' | 'stop' | 'read'>;
}

const PERSON_PATH = '/v1/sandbox/recordings';
const OPERATOR_PATH = '/v1/admin/sandbox/recordings';
const servedWhen = '`sandbox.enabled` is on and `secrets.adminApiToken` is set';

const what = {
  start:
    'Records, on this node and the gateway clock, the client’s requests, token requests, orders, cancels, session ' +
    'changes, streams and dead-man switch until stopped (at most 2 h). An unknown client or account → ' +
    '`INVALID_REQUEST` naming it; `OVERLOADED` when the caller runs as many as they may already (2 for a person, ' +
    '8 for the operator) or people run 32 on this node.',
  read:
    'What was recorded so far, with the account’s orders and events, the dead-man switches that fired and the ' +
    'faults that acted on the client, read now (a person sees their own faults and the operator’s, and only their ' +
    'own notes). `NOT_FOUND` for a recording this node does not hold.',
  stop: 'The recording stays readable on this node (the 8 newest its starter stopped are kept).',
};
const person = (text: string) =>
  `${text} For the caller’s own API client and account (another user’s → \`FORBIDDEN\`). Served only when ` +
  '`sandbox.enabled` is on (otherwise `404`); for people’s sessions only (a program’s token gets `API_NOT_ALLOWED`).';

const ops = (tag: 'sandbox' | 'admin', describe: (text: string) => string, served?: string) => {
  const extra = served === undefined ? {} : { servedWhen: served };
  return {
    start: operation({
      tag,
      summary: 'Start recording what the gateway sees of an API client (a drill)',
      description: describe(what.start),
      body: recordingRequestSchema,
      responses: { 201: recordingStartedSchema },
      ...extra,
    }),
    read: operation({
      tag,
      summary: 'A drill’s recording',
      description: describe(what.read),
      params: recordingParamsSchema,
      responses: { 200: recordingSchema },
      ...extra,
    }),
    stop: operation({
      tag,
      summary: 'Stop a drill’s recording',
      description: describe(what.stop),
      params: recordingParamsSchema,
      responses: { 200: recordingStoppedSchema },
      ...extra,
    }),
  } satisfies Record<string, Operation>;
};

export const recordingOperations = {
  person: ops('sandbox', person),
  operator: ops(
    'admin',
    (text) =>
      `${text} Any client: a personal client's owner is recorded; for an app, \`userId\` names the user whose use ` +
      'of it to record (required).',
    servedWhen,
  ),
};

export async function recordingRoutes(app: FastifyInstance, deps: RecordingRoutesDeps): Promise<void> {
  const { auth, recorders } = deps;

  /** The routes of one caller: `user` is the person (null: an operator, who may record any client). */
  const serve = (
    path: string,
    routeOptions: (operation: Operation) => object,
    userOf: (request: FastifyRequest) => string | null,
    operations: ReturnType<typeof ops>,
  ) => {
    const recordingOf = (request: FastifyRequest) => {
      const { id } = parseWith(recordingParamsSchema, request.params);
      const user = userOf(request);
      const recorder = recorders.get(id);
      if (user !== null && recorder.owner !== user && recorder.subject.userId !== user)
        throw new GatehouseError('FORBIDDEN', 'The recording is not yours.');
      return recorder;
    };
    app.post(path, routeOptions(operations.start), async (request, reply) => {
      const user = userOf(request);
      const body = parseWith(recordingRequestSchema, request.body);
      const { subject, personal } = await resolveSubject(deps.db, body, user);
      const recorder = await recorders.start(subject, user, personal);
      reply.code(201);
      return { id: recorder.id, subject, startedAt: new Date(recorder.startedAt).toISOString() };
    });
    app.get(`${path}/:id`, routeOptions(operations.read), async (request) =>
      recorders.read(recordingOf(request).id, userOf(request)),
    );
    app.delete(`${path}/:id`, routeOptions(operations.stop), async (request) => {
      const recorder = recorders.stop(recordingOf(request).id);
      return { id: recorder.id, state: 'stopped' as const };
    });
  };

  serve(
    PERSON_PATH,
    (operation) => auth.forPeople({ operation }),
    (request) => principalOf(request).session.userId,
    recordingOperations.person,
  );
  const operator = auth.operator;
  if (operator !== undefined)
    serve(
      OPERATOR_PATH,
      (operation) => ({ preHandler: operator, config: { operation } }),
      () => null,
      recordingOperations.operator,
    );
}

/**
 * @module sandbox/routes
 * Control of the failure sandbox over HTTP, registered only on a gateway whose sandbox is on (elsewhere every path
 * here answers `404`, as an unknown one does). Two callers, on two paths, as the rest of the API splits them:
 *
 * - a person, through their own session (web, mobile, desktop): `POST/GET/DELETE /v1/sandbox/faults`, on their own
 *   targets only — themselves, their sessions, their API clients, the accounts they may trade (`sandbox/targets`);
 *   anything else is `FORBIDDEN` and nothing is injected. They list and clear the faults they injected.
 *   A session that is competing or waiting for a step-up is still the person's own: it may inject and clear (that is
 *   how a trader tries those states out).
 * - an operator, with the admin API token: `POST/GET/DELETE /v1/admin/sandbox/faults`, on any target, seeing and
 *   clearing every fault (served only when `secrets.adminApiToken` is set, like the rest of `/v1/admin/`).
 *
 * A program's DPoP token may not call either (`API_NOT_ALLOWED`): a bot does not inject faults on itself. No OAuth
 * scope grants it, a fault on a program's client or user also strikes its person's other sessions and programs (an
 * expiry, a revoked device, a maintenance window) — more than the grant was given for — and a bot under a drill
 * must not be able to change the scenario that grades it. A bot author drives faults from the CLI or the portal.
 */
import {
  type Fault,
  faultClearedSchema,
  faultClearQuerySchema,
  faultListQuerySchema,
  faultListSchema,
  faultRequestSchema,
  faultSchema,
} from '@gatehouse/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Authenticator, clientInfo, operation, parseWith, principalOf } from '../http/index.js';
import type { Sandbox } from './service.js';
import type { SandboxActor } from './types.js';

/** What these routes need of the gateway. */
export interface SandboxRoutesDeps {
  auth: Authenticator;
  sandbox: Pick<Sandbox, 'inject' | 'list' | 'clear'>;
}

const PERSON_PATH = '/v1/sandbox/faults';
const OPERATOR_PATH = '/v1/admin/sandbox/faults';

const errorsOfInjection =
  'Bad input → `INVALID_REQUEST` naming the field (`kind`, `params.delayMs`, `target.id`, `schedule.at`); an ' +
  'exclusive kind already on the target then → `FAULT_CONFLICT`. Nothing is injected on any error. Audited ' +
  '(`sandbox.fault_injected`). A fault without a schedule starts at once; an action is done when this answers.';

const person = (what: string) =>
  `${what} On the caller’s own targets only (themselves, their sessions, their API clients, the accounts they may ` +
  'trade): another user’s, everyone or an instrument → `FORBIDDEN`. Served only when `sandbox.enabled` is on ' +
  '(otherwise `404`); for people’s sessions only (a program’s token gets `API_NOT_ALLOWED`).';
const servedWhen = '`sandbox.enabled` is on and `secrets.adminApiToken` is set';

export const sandboxOperations = {
  inject: operation({
    tag: 'sandbox',
    summary: 'Inject a fault on one of my own targets',
    description: person(errorsOfInjection),
    body: faultRequestSchema,
    responses: { 201: faultSchema },
  }),
  list: operation({
    tag: 'sandbox',
    summary: 'The faults I injected, newest first',
    description: person('`state=active`: the scheduled and active ones only.'),
    query: faultListQuerySchema,
    responses: { 200: faultListSchema },
  }),
  clear: operation({
    tag: 'sandbox',
    summary: 'Clear one of my faults, or all of them',
    description: person(
      'With `id`: that fault (another user’s → `FORBIDDEN`, an unknown one → `NOT_FOUND`); without: every ' +
        'scheduled or active fault the caller injected. Answers how many were cleared. Audited.',
    ),
    query: faultClearQuerySchema,
    responses: { 200: faultClearedSchema },
  }),
  operatorInject: operation({
    tag: 'admin',
    summary: 'Inject a fault on any target (failure sandbox)',
    description: `Everyone, a user, a session, an API client, an account or an instrument. ${errorsOfInjection}`,
    servedWhen,
    body: faultRequestSchema,
    responses: { 201: faultSchema },
  }),
  operatorList: operation({
    tag: 'admin',
    summary: 'Every fault of the failure sandbox, newest first',
    description: '`state=active`: the scheduled and active ones only.',
    servedWhen,
    query: faultListQuerySchema,
    responses: { 200: faultListSchema },
  }),
  operatorClear: operation({
    tag: 'admin',
    summary: 'Clear a fault of the failure sandbox, or every one',
    description:
      'With `id`: that fault (unknown → `NOT_FOUND`); without: every scheduled or active fault, whoever injected ' +
      'it. Answers how many were cleared. Audited.',
    servedWhen,
    query: faultClearQuerySchema,
    responses: { 200: faultClearedSchema },
  }),
};

/** The operator through the admin API, as the audit log names them. */
const OPERATOR: SandboxActor = { type: 'operator', label: 'admin_api' };

function personOf(request: FastifyRequest): SandboxActor {
  const { session } = principalOf(request);
  return { type: 'user', userId: session.userId, sessionId: session.id, ip: clientInfo(request).ip };
}

export async function sandboxRoutes(app: FastifyInstance, deps: SandboxRoutesDeps): Promise<void> {
  const { auth, sandbox } = deps;
  const ops = sandboxOperations;

  app.post(PERSON_PATH, auth.forPeople({ operation: ops.inject }), async (request, reply) => {
    const fault: Fault = await sandbox.inject(request.body ?? {}, personOf(request));
    reply.code(201);
    return fault;
  });

  app.get(PERSON_PATH, auth.forPeople({ operation: ops.list }), async (request) => {
    const { state } = parseWith(ops.list.query, request.query);
    return { faults: await sandbox.list({ ownerUserId: principalOf(request).session.userId, state }) };
  });

  app.delete(PERSON_PATH, auth.forPeople({ operation: ops.clear }), async (request) => {
    const { id } = parseWith(ops.clear.query, request.query);
    return { cleared: await sandbox.clear(id, personOf(request)) };
  });

  const operator = auth.operator;
  if (operator === undefined) return;

  const injectRoute = { preHandler: operator, config: { operation: ops.operatorInject } };
  app.post(OPERATOR_PATH, injectRoute, async (request, reply) => {
    const fault = await sandbox.inject(request.body ?? {}, OPERATOR);
    reply.code(201);
    return fault;
  });

  const listRoute = { preHandler: operator, config: { operation: ops.operatorList } };
  app.get(OPERATOR_PATH, listRoute, async (request) => {
    const { state } = parseWith(ops.operatorList.query, request.query);
    return { faults: await sandbox.list({ state }) };
  });

  const clearRoute = { preHandler: operator, config: { operation: ops.operatorClear } };
  app.delete(OPERATOR_PATH, clearRoute, async (request) => {
    const { id } = parseWith(ops.operatorClear.query, request.query);
    return { cleared: await sandbox.clear(id, OPERATOR) };
  });
}

/**
 * @module sandbox/scenario-routes
 * Playing a scenario over HTTP, with the callers of `sandbox/routes` (registered only on a gateway whose sandbox is
 * on; elsewhere `404`):
 *
 * - a person, through their own session: `POST /v1/sandbox/scenarios`, with the placeholders bound to their own
 *   targets (their user, their API client, an account they may trade, their session); another's → `FORBIDDEN`;
 * - the operator, with the admin API token: `POST /v1/admin/sandbox/scenarios`, on any target.
 *
 * A program's DPoP token may not (`API_NOT_ALLOWED`): a bot under a drill must not change the scenario that grades
 * it. Every step is checked before any is injected (`playScenario`); errors name each step's path within the
 * scenario (`steps[2].kind: unknown fault "push.exploded"`), and nothing is injected on any error.
 */
import { faultSchema, scenarioSchema, timestampSchema } from '@gatehouse/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../core/index.js';
import { type Authenticator, clientInfo, operation, parseWith, principalOf } from '../http/index.js';
import { checkScenario, playScenario, scenarioBindingsSchema } from './scenarios.js';
import type { Sandbox } from './service.js';
import type { SandboxActor } from './types.js';

/** What these routes need of the gateway. */
export interface ScenarioRoutesDeps {
  auth: Authenticator;
  clock: Clock;
  sandbox: Sandbox;
}

/** The body: a scenario, what its placeholders stand for, and when it starts (default now). */
export const scenarioPlaySchema = z
  .strictObject({
    scenario: scenarioSchema,
    bindings: scenarioBindingsSchema.default({}),
    startAt: timestampSchema.optional(),
  })
  .meta({ id: 'ScenarioPlay' });

/** The same body as the handler reads it: the scenario is checked by `checkScenario`, in the scenario's words. */
const envelopeSchema = scenarioPlaySchema.extend({ scenario: z.record(z.string(), z.unknown()) });

export const scenarioPlayedSchema = z
  .object({ startedAt: timestampSchema, faults: z.array(faultSchema) })
  .meta({ id: 'ScenarioPlayed' });

const description =
  'Every step becomes a fault starting `at` ms after `startAt` (default now) on the gateway’s clock; a condition ' +
  'without a duration holds until the scenario ends; a step’s seed defaults to the scenario’s seed plus its index. ' +
  'The placeholders `$user`, `$client`, `$account`, `$session` are bound from `bindings`. Every step is checked ' +
  'before any is injected: an unknown fault, parameters the kind does not take, a step outside the scenario, an ' +
  'unbound placeholder, a target that does not exist or a `startAt` already passed → `INVALID_REQUEST`; two ' +
  'exclusive faults overlapping on one target → `FAULT_CONFLICT`; each problem’s path within the scenario in ' +
  '`details.issues`. Nothing is injected on any error. Each fault is audited (`sandbox.fault_injected`).';

export const scenarioOperations = {
  play: operation({
    tag: 'sandbox',
    summary: 'Play a scenario on my own targets',
    description:
      `${description} The bindings must be the caller’s own (their user, API clients, sessions, the accounts ` +
      'they may trade): another’s → `FORBIDDEN`. Served only when `sandbox.enabled` is on (otherwise `404`); for ' +
      'people’s sessions only (a program’s token gets `API_NOT_ALLOWED`).',
    body: scenarioPlaySchema,
    responses: { 201: scenarioPlayedSchema },
  }),
  operatorPlay: operation({
    tag: 'admin',
    summary: 'Play a scenario of the failure sandbox on any target',
    description,
    servedWhen: '`sandbox.enabled` is on and `secrets.adminApiToken` is set',
    body: scenarioPlaySchema,
    responses: { 201: scenarioPlayedSchema },
  }),
};

const OPERATOR: SandboxActor = { type: 'operator', label: 'admin_api' };

export async function scenarioRoutes(app: FastifyInstance, deps: ScenarioRoutesDeps): Promise<void> {
  const { auth, clock, sandbox } = deps;
  const ops = scenarioOperations;

  const play = async (request: FastifyRequest, actor: SandboxActor) => {
    const body = parseWith(envelopeSchema, request.body);
    const { scenario } = checkScenario(body.scenario);
    return playScenario(sandbox, clock, scenario, {
      actor,
      bindings: body.bindings,
      ...(body.startAt === undefined ? {} : { startAt: Date.parse(body.startAt) }),
    });
  };

  app.post('/v1/sandbox/scenarios', auth.forPeople({ operation: ops.play }), async (request, reply) => {
    const { session } = principalOf(request);
    const actor: SandboxActor = {
      type: 'user',
      userId: session.userId,
      sessionId: session.id,
      ip: clientInfo(request).ip,
    };
    const played = await play(request, actor);
    reply.code(201);
    return played;
  });

  const operator = auth.operator;
  if (operator === undefined) return;
  const operatorRoute = { preHandler: operator, config: { operation: ops.operatorPlay } };
  app.post('/v1/admin/sandbox/scenarios', operatorRoute, async (request, reply) => {
    const played = await play(request, OPERATOR);
    reply.code(201);
    return played;
  });
}

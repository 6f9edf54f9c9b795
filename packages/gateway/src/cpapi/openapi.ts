/**
 * @module cpapi/openapi
 * The face's OpenAPI document (3.1), served by every listener at `GET /v1/api/openapi.json`, made from the same
 * wire schemas the routes answer with (`cpapi/wire`): one table of operations, each with what it needs (nothing,
 * the held login, or the brokerage session) and its body, query and 200 answer; every error is IBKR's
 * `{"error":"…"}`. The tests hold every JSON answer of the face to this document, and every route the face
 * registers to having an entry here.
 */
import { z } from 'zod';
import * as wire from './wire/index.js';

type Method = 'GET' | 'POST' | 'DELETE';

export interface FaceOperation {
  methods: readonly Method[];
  /** OpenAPI form, under `/v1/api` (`/portfolio/{accountId}/meta`). */
  path: string;
  summary: string;
  /** `login`: 401 without a held login; `brokerage`: IBKR's `no bridge` without the brokerage session too. */
  needs: 'nothing' | 'login' | 'brokerage';
  body?: z.ZodType;
  query?: z.ZodType;
  response: z.ZodType;
}

const both = ['GET', 'POST'] as const;

export const FACE_OPERATIONS: readonly FaceOperation[] = [
  {
    methods: both,
    path: '/tickle',
    summary: 'Keep the session alive; its WebSocket id and status',
    needs: 'login',
    response: wire.tickleResponseSchema,
  },
  {
    methods: both,
    path: '/iserver/auth/status',
    summary: 'Brokerage session status',
    needs: 'nothing',
    response: wire.authStatusResponseSchema,
  },
  {
    methods: ['POST'],
    path: '/iserver/auth/ssodh/init',
    summary: 'Take the brokerage session (compete: take it over)',
    needs: 'login',
    body: wire.ssodhInitBodySchema,
    response: wire.ssodhInitResponseSchema,
  },
  {
    methods: both,
    path: '/iserver/reauthenticate',
    summary: 'Ask for the brokerage session again (asynchronous)',
    needs: 'nothing',
    response: wire.reauthenticateResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/sso/validate',
    summary: 'The held login',
    needs: 'login',
    response: wire.ssoValidateResponseSchema,
  },
  {
    methods: ['POST'],
    path: '/logout',
    summary: 'End the held login',
    needs: 'nothing',
    response: wire.logoutResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/iserver/accounts',
    summary: 'Brokerage accounts and the selected one',
    needs: 'brokerage',
    response: wire.iserverAccountsResponseSchema,
  },
  {
    methods: ['POST'],
    path: '/iserver/account',
    summary: 'Select an account',
    needs: 'brokerage',
    body: wire.switchAccountBodySchema,
    response: wire.switchAccountResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/portfolio/accounts',
    summary: 'Portfolio accounts',
    needs: 'login',
    response: wire.portfolioAccountsResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/portfolio/subaccounts',
    summary: 'Portfolio subaccounts (the accounts themselves)',
    needs: 'login',
    response: wire.portfolioSubaccountsResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/portfolio/{accountId}/meta',
    summary: 'One account',
    needs: 'login',
    response: wire.portfolioMetaResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/portfolio/{accountId}/summary',
    summary: 'Account summary',
    needs: 'login',
    response: wire.portfolioSummaryResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/portfolio/{accountId}/ledger',
    summary: 'Ledger per currency and BASE',
    needs: 'login',
    response: wire.ledgerResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/portfolio/{accountId}/positions/{pageId}',
    summary: 'Positions, 100 a page',
    needs: 'login',
    response: wire.positionsResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/portfolio/{accountId}/position/{conid}',
    summary: 'The position in one contract',
    needs: 'login',
    response: wire.positionByConidResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/iserver/account/pnl/partitioned',
    summary: 'P&L per account',
    needs: 'brokerage',
    response: wire.pnlPartitionedResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/trsrv/stocks',
    summary: 'Stocks by symbol',
    needs: 'login',
    response: wire.trsrvStocksResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/trsrv/secdef',
    summary: 'Contracts by conid',
    needs: 'login',
    response: wire.trsrvSecdefResponseSchema,
  },
  {
    methods: both,
    path: '/iserver/secdef/search',
    summary: 'Search contracts',
    needs: 'brokerage',
    body: wire.secdefSearchBodySchema,
    response: wire.secdefSearchResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/iserver/secdef/info',
    summary: 'Contract details (options by month, strike, right)',
    needs: 'brokerage',
    response: wire.secdefInfoResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/iserver/contract/{conid}/info',
    summary: 'One contract',
    needs: 'brokerage',
    response: wire.contractInfoResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/iserver/marketdata/snapshot',
    summary: 'Quotes by field code (the first request per conid has no prices)',
    needs: 'brokerage',
    query: wire.snapshotQuerySchema,
    response: wire.snapshotResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/iserver/marketdata/history',
    summary: 'Bars',
    needs: 'brokerage',
    query: wire.historyQuerySchema,
    response: wire.historyResponseSchema,
  },
  {
    methods: ['POST'],
    path: '/iserver/marketdata/unsubscribe',
    summary: 'Stop a snapshot subscription',
    needs: 'brokerage',
    body: wire.unsubscribeBodySchema,
    response: wire.unsubscribeResponseSchema,
  },
  {
    methods: ['POST'],
    path: '/iserver/account/{accountId}/orders',
    summary: 'Place an order: questions or acknowledgements',
    needs: 'login',
    body: wire.placeOrdersBodySchema,
    response: wire.placeOrdersResponseSchema,
  },
  {
    methods: ['POST'],
    path: '/iserver/reply/{replyId}',
    summary: 'Answer an order question',
    needs: 'login',
    body: wire.replyBodySchema,
    response: wire.placeOrdersResponseSchema,
  },
  {
    methods: ['POST'],
    path: '/iserver/questions/suppress',
    summary: 'Answer these questions yes from now on',
    needs: 'login',
    body: wire.suppressBodySchema,
    response: wire.suppressResponseSchema,
  },
  {
    methods: ['POST'],
    path: '/iserver/questions/suppress/reset',
    summary: 'Ask every question again',
    needs: 'login',
    response: wire.suppressResetResponseSchema,
  },
  {
    methods: ['POST'],
    path: '/iserver/account/{accountId}/orders/whatif',
    summary: 'What an order would do, placing nothing',
    needs: 'login',
    body: wire.placeOrdersBodySchema,
    response: wire.whatIfResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/iserver/account/orders',
    summary: "Today's orders",
    needs: 'brokerage',
    query: wire.liveOrdersQuerySchema,
    response: wire.liveOrdersResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/iserver/account/order/status/{orderId}',
    summary: 'One order',
    needs: 'brokerage',
    response: wire.orderStatusResponseSchema,
  },
  {
    methods: ['POST'],
    path: '/iserver/account/{accountId}/order/{orderId}',
    summary: 'Modify an order (one ticket, not wrapped)',
    needs: 'login',
    body: wire.modifyOrderBodySchema,
    response: wire.modifyOrderResponseSchema,
  },
  {
    methods: ['DELETE'],
    path: '/iserver/account/{accountId}/order/{orderId}',
    summary: 'Cancel an order (-1: every working order of the account)',
    needs: 'login',
    response: wire.cancelOrderResponseSchema,
  },
  {
    methods: ['GET'],
    path: '/iserver/account/trades',
    summary: 'Executions of the last days (1–7)',
    needs: 'brokerage',
    response: wire.tradesResponseSchema,
  },
];

type Json = Record<string, unknown>;

const json = (schema: z.ZodType, io: 'input' | 'output'): Json => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'any',
  }) as Json;
  return rest;
};

/** The document, built once per process. */
let built: Json | undefined;

export function faceOpenApi(): Json {
  if (built !== undefined) return built;
  const error = { content: { 'application/json': { schema: json(wire.errorBodySchema, 'output') } } };
  const paths: Record<string, Record<string, Json>> = {};
  for (const op of FACE_OPERATIONS) {
    const path = `/v1/api${op.path}`;
    const parameters = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const query =
      op.query === undefined
        ? []
        : Object.entries((json(op.query, 'input').properties ?? {}) as Record<string, Json>).map(
            ([name, schema]) => ({
              name,
              in: 'query',
              required: false,
              schema,
            }),
          );
    for (const method of op.methods) {
      paths[path] ??= {};
      (paths[path] as Record<string, Json>)[method.toLowerCase()] = {
        summary: op.summary,
        description: `Needs: ${op.needs === 'nothing' ? 'nothing' : op.needs === 'login' ? 'the held login (401 without)' : 'the brokerage session (IBKR\'s "no bridge" without)'}.`,
        ...(parameters.length + query.length === 0 ? {} : { parameters: [...parameters, ...query] }),
        ...(op.body === undefined || method !== 'POST'
          ? {}
          : { requestBody: { content: { 'application/json': { schema: json(op.body, 'input') } } } }),
        responses: {
          '200': {
            description: 'OK',
            content: { 'application/json': { schema: json(op.response, 'output') } },
          },
          '4XX': { description: "IBKR's error body", ...error },
          '5XX': { description: "IBKR's error body", ...error },
        },
      };
    }
  }
  built = {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse CPAPI face',
      version: '1',
      description:
        "The IBKR Client Portal Web API (CPAPI v1) as a Gatehouse listener serves it; shapes follow IBKR's OpenAPI document 2.15.0 and campus documentation (docs/ibkr-compat.md).",
    },
    paths,
  };
  return built;
}

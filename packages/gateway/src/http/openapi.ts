/**
 * @module http/openapi
 * The OpenAPI 3.1 document of the routes an app registered. Each route's `config.operation` (http/operation.ts)
 * becomes an operation: its zod schemas turned into JSON Schema by zod itself (`z.toJSONSchema`, draft 2020-12,
 * the dialect of OpenAPI 3.1), the schemas with an `id` hoisted into `components.schemas`; who may call it read
 * from the route's pre-handler (the authenticator's, the operators'); errors answered with the error envelope, or
 * the OAuth way on the authorization server's form endpoints. HEAD routes mirror their GET and are left out.
 */
import { STATUS_CODES } from 'node:http';
import type {} from '@fastify/websocket';
import { errorEnvelopeSchema, oauthErrorSchema } from '@gatehouse/protocol';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CSRF_HEADER, DEVICE_PROOF_HEADER } from '../sessions/index.js';
import { type ApiScope, SESSION_COOKIE_TLS } from './kit.js';
import type { Operation, OperationResponse, ResponseDoc } from './operation.js';

type Json = Record<string, unknown>;

/** A route as the app registered it, with what the document needs of its options. */
export interface RegisteredRoute {
  method: string;
  url: string;
  operation: Operation | undefined;
  apiScope: ApiScope | undefined;
  preHandlers: readonly unknown[];
  websocket: boolean;
}

const recorded = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Records every route registered on `app` from now on: call it before any route or plugin is added. */
export function recordRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const preHandler = route.preHandler;
    for (const method of methods) {
      routes.push({
        method,
        url: route.url,
        operation: route.config?.operation,
        apiScope: route.config?.apiScope,
        preHandlers: preHandler === undefined ? [] : Array.isArray(preHandler) ? preHandler : [preHandler],
        websocket: route.websocket === true,
      });
    }
  });
  recorded.set(app, routes);
  return routes;
}

/** What `recordRoutes` saw registered on `app`. */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  const routes = recorded.get(app);
  if (routes === undefined) throw new Error('recordRoutes was not called on this app');
  return routes;
}

export interface DocumentOptions {
  title: string;
  version: string;
  description: string;
  /** The gateway's public base URL (`server.publicUrl`). */
  serverUrl: string;
  /** The reference's sections, in order, each with a line about it. */
  tags: readonly { name: string; description: string }[];
  /** The pre-handler of authenticated routes (`Authenticator.session`). */
  session: unknown;
  /** The pre-handler of the operators' admin API; undefined when it is not served. */
  operator: unknown;
  /** Operations of routes that a plugin registers without one (static files), keyed `METHOD url`. */
  extra?: Readonly<Record<string, Operation>>;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const COMPONENT_REF = '#/components/schemas/';

/** `/v1/accounts/:accountId/orders` → `/v1/accounts/{accountId}/orders`; a wildcard is `{path}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{path}');
}

/** The OpenAPI 3.1 document of `routes`. */
export function openApiDocument(routes: readonly RegisteredRoute[], options: DocumentOptions): Json {
  const schemas = new SchemaSet();
  const paths: Record<string, Record<string, Json>> = {};
  const undocumented: string[] = [];
  for (const route of routes) {
    if (route.method === 'HEAD') continue;
    const operation = route.operation ?? options.extra?.[`${route.method} ${route.url}`];
    if (operation === undefined) {
      undocumented.push(`${route.method} ${route.url}`);
      continue;
    }
    const path = openApiPath(route.url);
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operationObject(route, path, operation, options, schemas);
  }
  const document: Json = {
    openapi: '3.1.0',
    info: {
      title: options.title,
      version: options.version,
      description: options.description,
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: options.serverUrl }],
    tags: options.tags,
    paths,
    components: { schemas: schemas.components, securitySchemes: SECURITY_SCHEMES },
  };
  if (undocumented.length > 0) document['x-undocumented-routes'] = undocumented;
  return document;
}

function operationObject(
  route: RegisteredRoute,
  path: string,
  operation: Operation,
  options: DocumentOptions,
  schemas: SchemaSet,
): Json {
  const description = [
    operation.description,
    route.websocket
      ? 'A WebSocket: the upgrade is checked before the socket opens, and refused with an HTTP error otherwise.'
      : undefined,
    operation.servedWhen === undefined ? undefined : `Served only when ${operation.servedWhen}.`,
  ].filter((line) => line !== undefined);
  const result: Json = {
    operationId: operationId(route.method, path),
    summary: operation.summary,
    ...(description.length === 0 ? {} : { description: description.join('\n\n') }),
    tags: [operation.tag],
  };
  const parameters = [
    ...pathParameters(path, operation.params, schemas),
    ...parametersOf(operation.query, 'query', schemas),
    ...parametersOf(operation.headers, 'header', schemas),
  ];
  if (parameters.length > 0) result.parameters = parameters;
  const body = operation.body ?? operation.form;
  if (body !== undefined) {
    const type = operation.form === undefined ? 'application/json' : 'application/x-www-form-urlencoded';
    result.requestBody = {
      // The routes read an absent body as `{}` (http/kit `parseWith`): it is required when `{}` is refused.
      required: !body.safeParse({}).success,
      content: { [type]: { schema: schemas.convert(body, 'input') } },
    };
  }
  result.responses = responsesOf(operation, schemas);
  const security = securityOf(route, operation, options);
  if (security !== undefined) result.security = security;
  if (operation.messages !== undefined) {
    result['x-websocket-messages'] = {
      ...(operation.messages.send === undefined
        ? {}
        : { send: schemas.convert(operation.messages.send, 'input') }),
      receive: schemas.convert(operation.messages.receive, 'output'),
    };
  }
  return result;
}

/** `postAuthLoginByLoginIdFactor` for `POST /v1/auth/login/{loginId}/factor`: unique per method and path. */
function operationId(method: string, path: string): string {
  const words = path
    .split(/[/._-]+/)
    .filter((part) => part.length > 0 && part !== 'v1')
    .map((part) => {
      const param = /^\{(.+)\}$/.exec(part)?.[1];
      const word = param === undefined ? part : `by${param[0]?.toUpperCase()}${param.slice(1)}`;
      return `${word[0]?.toUpperCase()}${word.slice(1)}`;
    });
  return `${method.toLowerCase()}${words.join('') || 'Root'}`;
}

function responseDoc(response: OperationResponse): ResponseDoc {
  if ('_zod' in response) {
    const meta = z.globalRegistry.get(response);
    return { description: meta?.description ?? '', schema: response };
  }
  return response;
}

function responsesOf(operation: Operation, schemas: SchemaSet): Json {
  const envelope = schemas.convert(errorEnvelopeSchema, 'output');
  const errorSchema =
    operation.oauthErrors === true
      ? { anyOf: [schemas.convert(oauthErrorSchema, 'output'), envelope] }
      : envelope;
  const responses: Json = {};
  for (const [status, response] of Object.entries(operation.responses)) {
    const doc = responseDoc(response);
    const code = Number(status);
    let schema = doc.schema === undefined ? undefined : schemas.convert(doc.schema, 'output');
    // A documented 4xx answer (a 409 with questions to confirm) may also be an error of the same status.
    if (schema !== undefined && code >= 400 && code < 500) schema = { anyOf: [schema, errorSchema] };
    const content: Json = {};
    if (schema !== undefined) content[doc.contentType ?? 'application/json'] = { schema };
    else if (doc.contentType !== undefined) content[doc.contentType] = {};
    for (const [type, alternative] of Object.entries(doc.alternatives ?? {})) content[type] = alternative;
    responses[status] = {
      description: doc.description || STATUS_CODES[code] || status,
      ...(Object.keys(content).length === 0 ? {} : { content }),
    };
  }
  responses['4XX'] = {
    description:
      operation.oauthErrors === true
        ? 'An OAuth error (RFC 6749 §5.2) about the OAuth request itself; any other, the error envelope.'
        : 'A client error, coded (`docs/errors.md`).',
    content: { 'application/json': { schema: errorSchema } },
  };
  responses['5XX'] = {
    description: 'A server error (`INTERNAL`, never with internals) or the service is unavailable.',
    content: { 'application/json': { schema: envelope } },
  };
  return responses;
}

function pathParameters(path: string, params: z.ZodType | undefined, schemas: SchemaSet): Json[] {
  const declared = parametersOf(params, 'path', schemas);
  const names = new Set(declared.map((p) => p.name));
  for (const match of path.matchAll(/\{([^}]+)\}/g)) {
    const name = match[1] as string;
    if (!names.has(name)) declared.push({ name, in: 'path', required: true, schema: { type: 'string' } });
  }
  return declared;
}

function parametersOf(
  schema: z.ZodType | undefined,
  location: 'path' | 'query' | 'header',
  schemas: SchemaSet,
) {
  if (schema === undefined) return [];
  const json = schemas.convert(schema, 'input');
  const properties = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]): Json => {
    const { description, ...rest } = property;
    return {
      name,
      in: location,
      required: location === 'path' || required.has(name),
      ...(description === undefined ? {} : { description }),
      schema: rest,
    };
  });
}

/** The credentials a route takes, read from its pre-handler; undefined for a route anyone may call. */
function securityOf(
  route: RegisteredRoute,
  operation: Operation,
  options: DocumentOptions,
): Json[] | undefined {
  if (options.operator !== undefined && route.preHandlers.includes(options.operator))
    return [{ adminToken: [] }];
  if (route.preHandlers.includes(options.session)) {
    return sessionRequirements(!SAFE_METHODS.has(route.method), route.apiScope);
  }
  if (operation.upgradeScope !== undefined) return sessionRequirements(false, operation.upgradeScope);
  return undefined;
}

function sessionRequirements(unsafe: boolean, scope: ApiScope | undefined): Json[] {
  return [
    unsafe ? { sessionCookie: [], csrfToken: [] } : { sessionCookie: [] },
    { deviceToken: [], deviceProof: [] },
    ...(scope === undefined ? [] : [{ programToken: [scope], dpopProof: [] }]),
  ];
}

/** The credentials of http/authenticator.ts, as OpenAPI names them. */
const SECURITY_SCHEMES: Json = {
  sessionCookie: {
    type: 'apiKey',
    in: 'cookie',
    name: SESSION_COOKIE_TLS,
    description:
      'A web session, set by the login routes (HttpOnly, SameSite=Lax; `gh_session` on plain-http localhost). ' +
      'Unsafe methods need the CSRF token with it; a WebSocket upgrade needs an allowed `Origin` instead.',
  },
  csrfToken: {
    type: 'apiKey',
    in: 'header',
    name: CSRF_HEADER,
    description:
      'The session’s CSRF token (from the login or `GET /v1/session`), on POST, PUT, PATCH, DELETE.',
  },
  deviceToken: {
    type: 'http',
    scheme: 'bearer',
    description:
      'A mobile or desktop session’s token (`Authorization: Bearer`), bound to the device’s key: every ' +
      'request carries the device’s proof of it.',
  },
  deviceProof: {
    type: 'apiKey',
    in: 'header',
    name: DEVICE_PROOF_HEADER,
    description:
      'A JWS by the device key over this request (method, URL under the public URL, the token’s hash), used once.',
  },
  programToken: {
    type: 'http',
    scheme: 'DPoP',
    description:
      'A program’s access token (`Authorization: DPoP <token>`, RFC 9449) from `/oauth2/token`, holding the ' +
      'scope the operation names (`read`, `trade`, `marketdata`). Routes that name no scope refuse programs ' +
      '(`API_NOT_ALLOWED`).',
  },
  dpopProof: {
    type: 'apiKey',
    in: 'header',
    name: 'DPoP',
    description: 'The DPoP proof of this request, signed by the key the token is bound to.',
  },
  adminToken: {
    type: 'http',
    scheme: 'bearer',
    description:
      'The operators’ admin API token (`secrets.adminApiToken`); without one the admin API is not served.',
  },
};

/**
 * Zod schemas as JSON Schema, with the named ones (`.meta({ id })`) gathered once in `components.schemas` and
 * referred to from wherever they are used.
 */
class SchemaSet {
  readonly components: Record<string, Json> = {};

  convert(schema: z.ZodType, io: 'input' | 'output'): Json {
    const converted = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Json;
    const { $schema: _dialect, $defs, ...root } = converted;
    for (const [name, definition] of Object.entries(($defs ?? {}) as Record<string, Json>)) {
      const placed = relink(definition) as Json;
      const existing = this.components[name];
      if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(placed)) {
        throw new Error(`schema id ${name} names two different shapes (request and response?)`);
      }
      this.components[name] = placed;
    }
    return relink(root) as Json;
  }
}

/** Points zod's local `#/$defs/…` references at `components.schemas`. */
function relink(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(relink);
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] =
      key === '$ref' && typeof inner === 'string' && inner.startsWith('#/$defs/')
        ? `${COMPONENT_REF}${inner.slice('#/$defs/'.length)}`
        : relink(inner);
  }
  return out;
}

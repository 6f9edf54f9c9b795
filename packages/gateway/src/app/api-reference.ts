/**
 * @module app/api-reference
 * `GET /openapi.json`: the OpenAPI 3.1 document of the routes this gateway serves (http/openapi.ts), built on the
 * first request, once every route is registered, and kept. `GET /api-reference`: that document rendered by Swagger
 * UI from the `swagger-ui-dist` package — its script and stylesheet served from here, no CDN — under the portal's
 * Content-Security-Policy: no inline script or style (the page's set-up is a script file of its own). The page
 * reads only `/openapi.json`; sending requests from it ("Try it out") is off.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { type DocumentOptions, openApiDocument, operation, type RegisteredRoute } from '../http/index.js';
import { CONTENT_SECURITY_POLICY } from './portal.js';

const require = createRequire(import.meta.url);

/** The gateway package's version (from src/app or dist/app alike). */
export const GATEWAY_VERSION = (require('../../package.json') as { version: string }).version;

/** The reference's sections, in the order a reader meets them; the document lists those its routes use. */
export const API_TAGS = [
  { name: 'login', description: 'Logging in on every channel, the second step, and stepping a session up.' },
  {
    name: 'sessions',
    description: 'Who am I, the trading tier, keep-alive, logout, my sessions, my password.',
  },
  {
    name: 'factors',
    description: 'My second factors: authenticator apps, SMS, security keys, recovery codes.',
  },
  { name: 'devices', description: 'My devices: phone enrolment, desktop device keys, push decisions.' },
  { name: 'accounts', description: 'An account, its legal entity and what it may trade.' },
  { name: 'trading', description: 'The catalogue, quotes, orders, the portfolio and the event log.' },
  { name: 'safety', description: 'The dead-man switch and the session-loss policy.' },
  {
    name: 'readiness',
    description: 'The access-readiness checklist, the watchlist it checks, the legal-entity review.',
  },
  { name: 'streams', description: 'The session’s live channel.' },
  {
    name: 'oauth',
    description: 'Programs’ access: the authorization server, app consent, personal clients.',
  },
  { name: 'notifications', description: 'What the user was told, and their security events.' },
  {
    name: 'sandbox',
    description: 'The failure sandbox: faults on my own targets (served only when `sandbox.enabled` is on).',
  },
  { name: 'admin', description: 'The operators’ admin API (`secrets.adminApiToken`).' },
  { name: 'service', description: 'Health checks, the portal’s pages, this reference.' },
] as const;

const INIT_SCRIPT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  queryConfigEnabled: false,
  supportedSubmitMethods: [],
  validatorUrl: null,
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse API reference</title>
<link rel="stylesheet" href="/api-reference/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api-reference/swagger-ui-bundle.js"></script>
<script src="/api-reference/init.js"></script>
</body>
</html>
`;

/** The page's files: Swagger UI's own, and its set-up. */
const ASSETS: Record<string, { type: string; read: () => string | Buffer }> = {
  'swagger-ui.css': {
    type: 'text/css; charset=utf-8',
    read: () => readFileSync(swaggerFile('swagger-ui.css')),
  },
  'swagger-ui-bundle.js': {
    type: 'text/javascript; charset=utf-8',
    read: () => readFileSync(swaggerFile('swagger-ui-bundle.js')),
  },
  'init.js': { type: 'text/javascript; charset=utf-8', read: () => INIT_SCRIPT },
};

function swaggerFile(name: string): string {
  return join(dirname(require.resolve('swagger-ui-dist/package.json')), name);
}

const tag = 'service';

const documentOperation = operation({
  tag,
  summary: 'This OpenAPI 3.1 document',
  description: 'Every route this gateway serves, built from the same schemas the routes validate with.',
  responses: {
    200: { description: 'The document.', schema: z.looseObject({ openapi: z.literal('3.1.0') }) },
  },
});

const pageOperation = operation({
  tag,
  summary: 'This reference, rendered (Swagger UI)',
  responses: { 200: { description: 'The page.', contentType: 'text/html' } },
});

const assetOperation = operation({
  tag,
  summary: 'The reference page’s script and stylesheet',
  params: z.strictObject({ asset: z.enum(Object.keys(ASSETS) as [string, ...string[]]) }),
  responses: {
    200: {
      description: 'The file.',
      contentType: 'text/javascript',
      alternatives: { 'text/css': { schema: { type: 'string' } } },
    },
  },
});

export async function apiReferenceRoutes(
  app: FastifyInstance,
  routes: readonly RegisteredRoute[],
  options: Omit<DocumentOptions, 'title' | 'version' | 'description' | 'tags'>,
): Promise<void> {
  let document: string | undefined;
  app.get('/openapi.json', { config: { operation: documentOperation } }, (_request, reply) => {
    document ??= JSON.stringify(
      openApiDocument(routes, {
        title: 'Gatehouse',
        version: GATEWAY_VERSION,
        description:
          'The brokerage access gateway’s HTTP API and streams. Errors of the gateway’s own routes come in one ' +
          'envelope, `{"error":{"code","message","details?"}}`, each code explained in `docs/errors.md`; the ' +
          'authorization server’s form endpoints answer errors the OAuth way.',
        // A section none of the served routes is in (the sandbox's while it is off) is not listed.
        tags: API_TAGS.filter((tag) =>
          routes.some(
            (route) => (route.operation ?? options.extra?.[`${route.method} ${route.url}`])?.tag === tag.name,
          ),
        ),
        ...options,
      }),
    );
    reply.type('application/json; charset=utf-8').header('cache-control', 'no-cache').send(document);
  });

  const secured = (reply: FastifyReply) =>
    reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer');

  app.get('/api-reference', { config: { operation: pageOperation } }, (_request, reply) => {
    secured(reply).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(PAGE);
  });

  /** Read on first use and kept: the files change only with the package. */
  const loaded = new Map<string, string | Buffer>();
  app.get('/api-reference/:asset', { config: { operation: assetOperation } }, (request, reply) => {
    const parsed = assetOperation.params.safeParse(request.params);
    const known = parsed.success ? ASSETS[parsed.data.asset] : undefined;
    if (!parsed.success || known === undefined) return reply.callNotFound();
    let body = loaded.get(parsed.data.asset);
    if (body === undefined) {
      body = known.read();
      loaded.set(parsed.data.asset, body);
    }
    return secured(reply).header('cache-control', 'public, max-age=3600').type(known.type).send(body);
  });
}

/**
 * @module app/portal
 * Serves the built Client Portal on the gateway's own port: hashed assets under `/assets/` (cached for a year),
 * and the single page for each of the portal's paths. Pages carry a strict Content-Security-Policy (scripts,
 * styles and connections from this origin only; QR codes as `data:` images) and may not be framed (ASVS 14.4).
 * The FAPI authorization endpoint is the consent page when a browser asks for HTML; its JSON answer, for the
 * page's own request, stays behind the session check.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, onRequestHookHandler } from 'fastify';
import { operation } from '../http/index.js';

/** The portal's client-side routes: each answers with the page, which then draws itself. */
export const PORTAL_PATHS = [
  '/',
  '/login',
  '/security',
  '/account',
  '/trade',
  '/api-clients',
  '/readiness',
  '/authenticator',
] as const;

/** The Sandbox page's route: served only with the failure sandbox on (`404` otherwise, as its API is). */
export const SANDBOX_PAGE = '/sandbox';

/** The pages' policy (the API reference page's too). */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const pageOperation = operation({
  tag: 'service',
  summary: 'A page of the Client Portal',
  description:
    'The single page, which draws the path’s view itself; `503` with a line of text when not built.',
  responses: {
    200: { description: 'The page.', contentType: 'text/html' },
    503: { description: 'The portal is not built.', contentType: 'text/plain' },
  },
});

/** `GET /assets/*` (@fastify/static registers it, so the document takes this description from app/). */
export const PORTAL_ASSETS_OPERATION = operation({
  tag: 'service',
  summary: 'The Client Portal’s built assets',
  description: 'Scripts, stylesheets and images under content-hashed names, cached for a year.',
  responses: { 200: { description: 'The file.', contentType: 'application/octet-stream' } },
});

export function defaultPortalDir(): string {
  // From src/app or dist/app of the gateway package to the portal package's build output.
  return fileURLToPath(new URL('../../../portal/dist/', import.meta.url));
}

export async function portalRoutes(
  app: FastifyInstance,
  portalDir: string | false | undefined,
  options: { sandbox: boolean },
): Promise<void> {
  if (portalDir === false) return;
  const dir = portalDir ?? defaultPortalDir();
  const indexFile = `${dir.replace(/\/$/, '')}/index.html`;
  const built = existsSync(indexFile);
  // Read once: the page is small, and a deployment replaces the whole build.
  const page = built ? readFileSync(indexFile) : null;

  const sendPage = (reply: FastifyReply) => {
    reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache');
    if (page === null) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The Client Portal is not built. Run `npm run build` (or `npm start`), then reload.\n');
    }
    return reply.type('text/html; charset=utf-8').send(page);
  };

  const pageRoute = { config: { operation: pageOperation } };
  const paths = options.sandbox ? [...PORTAL_PATHS, SANDBOX_PAGE] : PORTAL_PATHS;
  for (const path of paths) app.get(path, pageRoute, (_request, reply) => sendPage(reply));

  // Only the authorization endpoint gets this hook (added to that route as it is declared), so no other request,
  // the hot session check among them, pays for it.
  app.addHook('onRoute', (route) => {
    if (route.url !== '/oauth2/authorize' || route.method !== 'GET') return;
    const asPage: onRequestHookHandler = (request, reply, done) => {
      if ((request.headers.accept ?? '').includes('text/html')) {
        sendPage(reply);
        return;
      }
      done();
    };
    const existing = route.onRequest;
    route.onRequest =
      existing === undefined ? [asPage] : [asPage, ...(Array.isArray(existing) ? existing : [existing])];
  });

  if (built) {
    await app.register(fastifyStatic, {
      root: `${dir.replace(/\/$/, '')}/assets`,
      prefix: '/assets/',
      immutable: true,
      maxAge: '365d',
      index: false,
      wildcard: true,
    });
  }
}

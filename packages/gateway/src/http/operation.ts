/**
 * @module http/operation
 * What the API reference says of a route, attached where the route is declared (`config.operation`): a summary,
 * the protocol's schemas for its path, query and body — the very ones its handler validates with (`parseWith`) —
 * and its answers by status. The OpenAPI document (http/openapi.ts) is built from the routes the app registered,
 * so a route and its description travel together; who may call a route is read from the route's own pre-handler.
 */
import type { z } from 'zod';
import type { ApiScope } from './kit.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route as the OpenAPI document describes it (`GET /openapi.json`). */
    operation?: Operation;
  }
}

/** An answer that is not a JSON body, or one worth its own words. */
export interface ResponseDoc {
  description: string;
  /** The body's schema; none for an empty answer (204) or a non-JSON one without structure (a page). */
  schema?: z.ZodType;
  /** Default `application/json`. */
  contentType?: string;
  /** The same answer in another form (the introspection endpoint's signed JWT). */
  alternatives?: Readonly<Record<string, { schema: Record<string, unknown> }>>;
}

export type OperationResponse = z.ZodType | ResponseDoc;

export interface Operation {
  /** One line, as the reference lists the route. */
  summary: string;
  /** More, in Markdown: what the route checks, what it changes, what to do with its errors. */
  description?: string;
  /** The reference's section: the capability that serves the route. */
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  /** Request headers beyond the credentials (the token endpoint's `DPoP` proof). */
  headers?: z.ZodType;
  /** A JSON body. */
  body?: z.ZodType;
  /** An `application/x-www-form-urlencoded` body (the authorization server's endpoints). */
  form?: z.ZodType;
  /** Answers by status. Every operation also answers errors (4XX, 5XX) with the error envelope. */
  responses: Readonly<Record<number, OperationResponse>>;
  /** Errors about the OAuth request come the OAuth way (`{error, error_description}`, RFC 6749 §5.2). */
  oauthErrors?: true;
  /**
   * A WebSocket upgrade that runs the authenticator in its own check (the session stream): a cookie session with
   * an allowed `Origin`, a device-bound token with its proof, or a program's token holding this scope.
   */
  upgradeScope?: ApiScope;
  /** Messages of a WebSocket: what the client sends and what it receives. */
  messages?: { send?: z.ZodType; receive: z.ZodType };
  /** The setting under which the route is served at all (`secrets.adminApiToken`, …). */
  servedWhen?: string;
}

/** Declares an operation, keeping its schemas' types for the handler that validates with them. */
export function operation<const O extends Operation>(definition: O): O {
  return definition;
}

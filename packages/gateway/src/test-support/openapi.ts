/**
 * Responses held to the gateway's own OpenAPI document. `checkResponses(app)` wraps `app.inject` so that every
 * response a test gets back is looked up in `/openapi.json` — its operation by method and path, its answer by status
 * (exact, then `4XX`/`5XX`) — and a JSON body is validated against that answer's schema (Ajv, JSON Schema 2020-12,
 * the dialect of OpenAPI 3.1). A status the operation does not document, or a body of another shape, makes the
 * request reject, and so fails the test that made it. Requests to paths the document does not have (a test of
 * the not-found answer) are left alone; that every registered route is documented is app/openapi.test.ts's check.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';

type Json = Record<string, unknown>;

/** A response as the check needs it. */
export interface ResponseUnderCheck {
  method: string;
  /** The request's URL (its query is ignored). */
  url: string;
  status: number;
  contentType: string | undefined;
  body: string;
}

interface Route {
  method: string;
  path: string;
  pattern: RegExp;
  /** Fewer parameters first: `/v1/factors/webauthn` before `/v1/factors/{id}`. */
  params: number;
}

/** JSON Pointer escaping (RFC 6901), then as a URI fragment. */
const pointer = (...segments: string[]) =>
  segments.map((s) => `/${encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'))}`).join('');

export class OpenApiResponses {
  readonly #document: Json;
  readonly #ajv: Ajv2020;
  readonly #routes: Route[] = [];
  readonly #validators = new Map<string, ValidateFunction>();

  constructor(document: Json) {
    this.#document = document;
    this.#ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    addFormats.default(this.#ajv);
    this.#ajv.addSchema(document, 'openapi.json');
    for (const [path, operations] of Object.entries((document.paths ?? {}) as Record<string, Json>)) {
      const source = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+');
      const params = (path.match(/\{/g) ?? []).length;
      for (const method of Object.keys(operations))
        this.#routes.push({ method: method.toUpperCase(), path, pattern: new RegExp(`^${source}$`), params });
    }
    this.#routes.sort((a, b) => a.params - b.params);
  }

  /** What is wrong with `response` by the document; empty when nothing is, or the path is not documented. */
  check(response: ResponseUnderCheck): string[] {
    const path = response.url.split('?')[0] ?? '';
    const route = this.#routes.find((r) => r.method === response.method && r.pattern.test(path));
    if (route === undefined) return [];
    const operation = (this.#document.paths as Record<string, Record<string, Json>>)[route.path]?.[
      route.method.toLowerCase()
    ] as Json;
    const responses = operation.responses as Record<string, Json>;
    const status = String(response.status);
    const key = [status, `${status[0]}XX`, 'default'].find((k) => responses[k] !== undefined);
    if (key === undefined) return [`status ${status} is not documented`];
    const contentType = (response.contentType ?? '').split(';')[0]?.trim() ?? '';
    if (contentType !== 'application/json') return [];
    const content = responses[key]?.content as Record<string, Json> | undefined;
    if (content?.['application/json']?.schema === undefined)
      return [`a JSON body is not documented for ${key}`];
    const validate = this.#validator(route, key);
    let body: unknown;
    try {
      body = JSON.parse(response.body);
    } catch {
      return ['the body is not JSON'];
    }
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) => `${e.instancePath || '(body)'} ${e.message} ${JSON.stringify(e.params)}`,
    );
  }

  #validator(route: Route, key: string): ValidateFunction {
    const ref = `openapi.json#${pointer('paths', route.path, route.method.toLowerCase(), 'responses', key, 'content', 'application/json', 'schema')}`;
    let validate = this.#validators.get(ref);
    if (validate === undefined) {
      validate = this.#ajv.compile({ $ref: ref });
      this.#validators.set(ref, validate);
    }
    return validate;
  }
}

/** One checker per distinct document (test gateways of one configuration serve the same one). */
const checkers = new Map<string, OpenApiResponses>();

function checkerFor(text: string): OpenApiResponses {
  let checker = checkers.get(text);
  if (checker === undefined) {
    checker = new OpenApiResponses(JSON.parse(text) as Json);
    checkers.set(text, checker);
  }
  return checker;
}

const checkedApps = new WeakSet<FastifyInstance>();

/** Whether `checkResponses` wraps this app's `inject`. */
export function responsesChecked(app: FastifyInstance): boolean {
  return checkedApps.has(app);
}

/**
 * Makes every `app.inject(options)` (the promise form) check its response against the app's `/openapi.json`, or
 * against `document` when given. A response that is not as documented rejects with what differs.
 */
export function checkResponses(app: FastifyInstance, document?: Json): void {
  const inject = app.inject.bind(app);
  let checker: Promise<OpenApiResponses> | undefined;
  const load = () =>
    (checker ??=
      document === undefined
        ? inject({ method: 'GET', url: '/openapi.json' }).then((r) => checkerFor(r.body))
        : Promise.resolve(new OpenApiResponses(document)));
  const checked = async (options: InjectOptions | string): Promise<LightMyRequestResponse> => {
    const response = await inject(options);
    const { method = 'GET', url = '/' } = response.raw.req;
    const contentType = response.headers['content-type'];
    const problems = (await load()).check({
      method,
      url,
      status: response.statusCode,
      contentType: typeof contentType === 'string' ? contentType : undefined,
      body: response.body,
    });
    if (problems.length > 0) {
      throw new Error(
        `${method} ${url} answered ${response.statusCode} other than /openapi.json documents:\n  ${problems.join('\n  ')}\n${response.body.slice(0, 2000)}`,
      );
    }
    return response;
  };
  checkedApps.add(app);
  app.inject = ((options?: InjectOptions | string, callback?: unknown) =>
    options === undefined || callback !== undefined
      ? (inject as (...args: unknown[]) => unknown)(options, callback)
      : checked(options)) as typeof app.inject;
}

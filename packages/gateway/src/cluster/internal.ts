/**
 * @module cluster/internal
 * The node-to-node channel: a listener of its own (`cluster.internalHost`/`internalPort`, never the public one) with
 * one route, `POST /internal/v1/call`, and the client other nodes call it with. A call names a method of the
 * receiving node's trading service and its arguments (an order entry, change, cancel or read of an account this node
 * works); the answer is the method's value or its coded error, carried back to the caller as if it had happened
 * there.
 *
 * Every call is signed: `x-gatehouse-call: t=<epoch ms>,n=<caller node>,s=<HMAC-SHA256>` over the time, the caller,
 * the node it is for and the body, under a key derived from the server secret every node shares. A call older or newer than 30 s, badly
 * signed, or signed for another node, or signed exactly as one already taken (a replay: each node remembers the signatures it
 * took for as long as they are fresh) is refused (401) before its body is parsed; the comparison is constant-time. The listener is
 * for other nodes only: bind it to a private address.
 */
import { Agent, request } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  constantTimeEqual,
  currentKey,
  ERROR_CATALOGUE,
  GatehouseError,
  hmacSha256,
  type KeySource,
  verifyingKeys,
} from '../core/index.js';

const CALL_HEADER = 'x-gatehouse-call';
/** How far a call's time may be from the receiver's; its signature is remembered twice as long. */
export const MAX_SKEW_MS = 30_000;
/** A forwarded order waits at most this long for the owner's answer. */
const CALL_TIMEOUT_MS = 10_000;

type Answer =
  | { ok: true; value: unknown }
  | { ok: false; error: { code: string; message: string; details?: unknown } };

/** The call's signature: over its time, its caller, the node it is for, and its body. */
function signature(key: Buffer, time: number, from: string, to: string, body: string): string {
  return hmacSha256(key, `${time}.${from}.${to}.${body}`);
}

export interface InternalListenerOptions {
  /** This node: a call signed for another node is refused here. */
  nodeId: string;
  host: string;
  port: number;
  /** The call keys: a call signed by a node still on the previous secret verifies until that secret retires. */
  key: KeySource;
  now: () => number;
  /** True the first time a signature is seen here: each call is taken once (it is signed for this node only). */
  firstSeen(signature: string, signedAt: number): Promise<boolean>;
  /** Runs a call; its GatehouseError travels back coded, any other error as INTERNAL. */
  handle(method: string, args: unknown, from: string): Promise<unknown>;
  onError(error: unknown): void;
}

/** Starts the internal listener; resolves to it and the port it bound. */
export async function startInternalListener(
  options: InternalListenerOptions,
): Promise<{ app: FastifyInstance; port: number }> {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) =>
    done(null, body),
  );
  app.post('/internal/v1/call', async (req, reply) => {
    const raw = typeof req.body === 'string' ? req.body : '';
    const header = req.headers[CALL_HEADER];
    const parts = new Map(
      (typeof header === 'string' ? header : '').split(',').map((p) => {
        const i = p.indexOf('=');
        return [p.slice(0, i), p.slice(i + 1)] as [string, string];
      }),
    );
    const time = Number(parts.get('t'));
    const node = parts.get('n') ?? '';
    const given = parts.get('s') ?? '';
    const fresh = Number.isFinite(time) && Math.abs(options.now() - time) <= MAX_SKEW_MS;
    let signed = false;
    for (const key of verifyingKeys(options.key))
      signed = constantTimeEqual(given, signature(key, time, node, options.nodeId, raw)) || signed;
    if (!fresh || !signed || !(await options.firstSeen(given, time)))
      return reply
        .status(401)
        .send({ ok: false, error: { code: 'CALL_UNSIGNED', message: 'unsigned call' } });
    let call: { method: string; args: unknown };
    try {
      call = JSON.parse(raw) as { method: string; args: unknown };
    } catch {
      return reply.status(400).send({ ok: false, error: { code: 'CALL_MALFORMED', message: 'not JSON' } });
    }
    try {
      const value = await options.handle(call.method, call.args, node);
      return { ok: true, value } satisfies Answer;
    } catch (error) {
      if (error instanceof GatehouseError)
        return {
          ok: false,
          error: { code: error.code, message: error.message, details: error.details },
        } satisfies Answer;
      options.onError(error);
      return {
        ok: false,
        error: { code: 'INTERNAL', message: ERROR_CATALOGUE.INTERNAL.message },
      } satisfies Answer;
    }
  });
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return { app, port };
}

/** Thrown when the other node cannot be reached or answers no call (down, restarting, unsigned). */
export class NodeUnreachable extends Error {
  constructor(url: string, cause: unknown) {
    super(`node at ${url} unreachable: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'NodeUnreachable';
  }
}

/** Calls other nodes' internal listeners over kept-alive connections. */
export class InternalClient {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });
  readonly #key: Buffer;
  readonly #node: string;
  readonly #now: () => number;

  constructor(options: { key: KeySource; nodeId: string; now: () => number }) {
    this.#key = currentKey(options.key);
    this.#node = options.nodeId;
    this.#now = options.now;
  }

  /**
   * The method's value on node `to` (reached at `url`); its coded error rethrown here; `NodeUnreachable` if none
   * came.
   */
  async call(url: string, to: string, method: string, args: unknown): Promise<unknown> {
    const body = JSON.stringify({ method, args });
    const time = this.#now();
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${url}/internal/v1/call`,
        {
          method: 'POST',
          agent: this.#agent,
          timeout: CALL_TIMEOUT_MS,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            [CALL_HEADER]: `t=${time},n=${this.#node},s=${signature(this.#key, time, this.#node, to, body)}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', (error) => reject(new NodeUnreachable(url, error)));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (error) => reject(new NodeUnreachable(url, error)));
      req.end(body);
    });
    let parsed: Answer;
    try {
      parsed = JSON.parse(answer.text) as Answer;
    } catch (error) {
      throw new NodeUnreachable(url, error);
    }
    if (parsed.ok) return parsed.value;
    const { code, message, details } = parsed.error;
    if (code in ERROR_CATALOGUE)
      throw new GatehouseError(
        code as keyof typeof ERROR_CATALOGUE,
        message,
        details as GatehouseError['details'],
      );
    throw new NodeUnreachable(url, new Error(`${answer.status} ${code}`));
  }

  close(): void {
    this.#agent.destroy();
  }
}

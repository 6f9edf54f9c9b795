/**
 * @module cpapi/wire/ws
 * The WebSocket `/v1/api/ws`: server frames (`system` greeting and heartbeat, `sts`, `act`, `tic`, `smd`, `sor`,
 * `spl`, `str`, `blt`) and the grammar of client messages `TOPIC[+TARGET][+{json}]`, with a pure parser
 * (campus "Websockets"; gateway `doc/RealtimeSubscription.md`; research §6 and §11).
 */
import { z } from 'zod';
import { iserverAccountsResponseSchema, pnlRowSchema } from './accounts.js';
import { conidSchema } from './common.js';
import { liveOrderSchema, tradeSchema } from './orders.js';

/** Greeting on connect: `{"topic":"system","success":"<username>","isFT":false,"isPaper":false}`. */
export const systemGreetingFrameSchema = z.looseObject({
  topic: z.literal('system'),
  success: z.string(),
  isFT: z.boolean(),
  isPaper: z.boolean(),
});
/** Heartbeat every 10 s: `{"topic":"system","hb":<epoch ms>}`; ibind restarts after 300 s without one. */
export const heartbeatFrameSchema = z.looseObject({ topic: z.literal('system'), hb: z.number().int() });

/**
 * Authentication change: `args.authenticated`, and in practice `connected, established, competing, message,
 * fail, serverName, serverVersion, username` (research §6). `authenticated:false` makes clients reconnect.
 */
export const stsFrameSchema = z.looseObject({
  topic: z.literal('sts'),
  args: z.looseObject({
    authenticated: z.boolean(),
    competing: z.boolean().optional(),
    connected: z.boolean().optional(),
    established: z.boolean().optional(),
    message: z.string().optional(),
    fail: z.string().optional(),
    serverName: z.string().optional(),
    serverVersion: z.string().optional(),
    username: z.string().optional(),
  }),
});

/** On connect, a push of the `/iserver/accounts` content (research §6); the keys are not all established. */
export const actFrameSchema = z.looseObject({
  topic: z.literal('act'),
  args: iserverAccountsResponseSchema.partial(),
});

/** Answer to `tic` (observed, research §6): `lastAccessed` moves on each ping, which ibind's `tic()` waits for. */
export const ticFrameSchema = z.looseObject({
  topic: z.literal('tic'),
  alive: z.boolean(),
  id: z.string(),
  lastAccessed: z.number().int(),
});

/** A market-data update: changed fields only, keyed by code, with `conid` and `_updated` (research §6). */
export const smdFrameSchema = z
  .object({
    topic: z.string().regex(/^smd\+\d+$/),
    conid: conidSchema,
    conidEx: z.string().optional(),
    server_id: z.string().optional(),
    _updated: z.number().int(),
  })
  .catchall(z.unknown());

/** Order deltas: each item a partial live order that names its `orderId` (RealtimeSubscription.md). */
export const sorFrameSchema = z.looseObject({
  topic: z.literal('sor'),
  args: z.array(liveOrderSchema.partial().extend({ orderId: z.number().int() })),
});

/** P&L rows keyed `"<acct>.Core"` (research §6). */
export const splFrameSchema = z.looseObject({
  topic: z.literal('spl'),
  args: z.record(z.string(), pnlRowSchema.partial().extend({ rowType: z.number().int() })),
});

/** Executions, as `iserver/account/trades` items (campus "Trades" topic). */
export const strFrameSchema = z.looseObject({
  topic: z.literal('str'),
  args: z.array(tradeSchema.partial()),
});

/** A bulletin `{id, message}` (research §6); the face uses it for competing and reset notices. */
export const bltFrameSchema = z.looseObject({
  topic: z.literal('blt'),
  args: z.looseObject({ id: z.string(), message: z.string() }),
});

/** Any frame the face sends. */
export const serverFrameSchema = z.union([
  heartbeatFrameSchema,
  systemGreetingFrameSchema,
  stsFrameSchema,
  actFrameSchema,
  ticFrameSchema,
  sorFrameSchema,
  splFrameSchema,
  strFrameSchema,
  bltFrameSchema,
  smdFrameSchema,
]);
export type ServerFrame = z.infer<typeof serverFrameSchema>;

/** A client message, parsed. */
export type ClientMessage =
  | { kind: 'smd'; conid: number; fields: string[] }
  | { kind: 'umd'; conid: number }
  | { kind: 'sor'; filters?: string[] }
  | { kind: 'uor' }
  | { kind: 'tic' }
  | { kind: 'spl' }
  | { kind: 'upl' }
  | { kind: 'str'; realtimeUpdatesOnly?: boolean; days?: number }
  | { kind: 'utr' }
  | { kind: 'ech'; text: string };

export type ParseResult = { ok: true; message: ClientMessage } | { ok: false; reason: string };

const smdArgs = z.looseObject({ fields: z.array(z.string().regex(/^\d+$/)).default([]) });
const sorArgs = z.looseObject({ filters: z.array(z.string()).optional() });
const strArgs = z.looseObject({
  realtimeUpdatesOnly: z.boolean().optional(),
  days: z.number().int().optional(),
});

function parseJson(text: string | undefined): { ok: true; value: unknown } | { ok: false } {
  if (text === undefined || text === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

const fail = (reason: string): ParseResult => ({ ok: false, reason });

/**
 * Parses one client text message. The topic is the first three letters; a target (a conid) and a JSON argument
 * follow, each after `+`. JSON may use any spacing (ibind sends `json.dumps` output: `{"fields": ["31", "84"]}`).
 */
export function parseClientMessage(raw: string): ParseResult {
  const text = raw.trim();
  const topic = text.slice(0, 3);
  const rest = text.slice(3);
  if (rest !== '' && !rest.startsWith('+')) return fail(`unknown message: ${text.slice(0, 40)}`);
  const body = rest.slice(1);
  switch (topic) {
    case 'smd':
    case 'umd': {
      const match = /^(\d+)(?:\+(.*))?$/s.exec(body);
      if (match === null) return fail(`${topic} needs a numeric conid`);
      const conid = Number(match[1]);
      const json = parseJson(match[2]);
      if (!json.ok) return fail(`${topic}: the argument is not JSON`);
      if (topic === 'umd') return { ok: true, message: { kind: 'umd', conid } };
      const args = smdArgs.safeParse(json.value);
      if (!args.success) return fail('smd: fields must be an array of numeric field codes');
      return { ok: true, message: { kind: 'smd', conid, fields: args.data.fields } };
    }
    case 'sor':
    case 'str': {
      const json = parseJson(body);
      if (!json.ok) return fail(`${topic}: the argument is not JSON`);
      if (topic === 'sor') {
        const args = sorArgs.safeParse(json.value);
        if (!args.success) return fail('sor: filters must be an array of strings');
        return {
          ok: true,
          message: { kind: 'sor', ...(args.data.filters ? { filters: args.data.filters } : {}) },
        };
      }
      const args = strArgs.safeParse(json.value);
      if (!args.success) return fail('str: realtimeUpdatesOnly must be boolean, days an integer');
      const { realtimeUpdatesOnly, days } = args.data;
      return {
        ok: true,
        message: {
          kind: 'str',
          ...(realtimeUpdatesOnly !== undefined ? { realtimeUpdatesOnly } : {}),
          ...(days !== undefined ? { days } : {}),
        },
      };
    }
    case 'uor':
    case 'spl':
    case 'upl':
    case 'utr':
      return parseJson(body).ok
        ? { ok: true, message: { kind: topic } }
        : fail(`${topic}: the argument is not JSON`);
    case 'tic':
      return body === '' ? { ok: true, message: { kind: 'tic' } } : fail('tic takes no argument');
    case 'ech':
      return { ok: true, message: { kind: 'ech', text: body } };
    default:
      return fail(`unknown topic: ${topic}`);
  }
}

/** Writes a client message in IBKR's grammar (compact JSON), the inverse of `parseClientMessage`. */
export function formatClientMessage(message: ClientMessage): string {
  switch (message.kind) {
    case 'smd':
      return `smd+${message.conid}+${JSON.stringify({ fields: message.fields })}`;
    case 'umd':
      return `umd+${message.conid}+{}`;
    case 'sor':
      return message.filters ? `sor+${JSON.stringify({ filters: message.filters })}` : 'sor+{}';
    case 'str': {
      const { kind: _kind, ...args } = message;
      return `str+${JSON.stringify(args)}`;
    }
    case 'uor':
    case 'spl':
    case 'upl':
      return `${message.kind}+{}`;
    case 'utr':
    case 'tic':
      return message.kind;
    case 'ech':
      return `ech+${message.text}`;
  }
}

/**
 * @module metrics/registry
 * Prometheus metrics (prom-client), one registry per gateway (no global state, so two gateways in one process do
 * not mix), served at `/metrics` on the metrics listener (`server.ts`), never on the public one. Session counts
 * come from the sessions' owner at scrape time (read from the database, so every node reports the same truth);
 * counters and histograms are per node, as Prometheus expects.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Live sessions by channel and tier, read at scrape time. */
export type LiveSessionCounter = () => Promise<{ channel: string; tier: string; count: number }[]>;

export interface GatewayMetrics {
  registry: Registry;
  /** Login outcomes by channel: success, invalid_credentials, factor_failed, throttled, push_denied, … */
  logins: Counter<'channel' | 'result'>;
  /** Seconds from the password step to the second factor's completion, by factor. */
  secondFactorSeconds: Histogram<'factor'>;
  /** Brokerage takeovers (a session made another one competing). */
  takeovers: Counter<'channel'>;
  /** Seconds from losing trading on a channel to holding it again on that channel. */
  reauthenticationSeconds: Histogram<'channel'>;
}

/** What the event bus on Redis did on this node (nothing without `cluster.redisUrl`). */
export type BusCounts = () =>
  | { published: number; publishFailures: number; received: number; handlerErrors: number }
  | undefined;

export function createMetrics(
  liveSessions: LiveSessionCounter,
  busCounts: BusCounts = () => undefined,
  busConnected: () => boolean = () => true,
): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
  const logins = new Counter({
    name: 'gatehouse_logins_total',
    help: 'Login attempts by channel and result.',
    labelNames: ['channel', 'result'] as const,
    registers: [registry],
  });
  const secondFactorSeconds = new Histogram({
    name: 'gatehouse_second_factor_seconds',
    help: 'Time from a correct password to a completed second factor, by factor.',
    labelNames: ['factor'] as const,
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 180, 300],
    registers: [registry],
  });
  const takeovers = new Counter({
    name: 'gatehouse_brokerage_takeovers_total',
    help: 'Brokerage capabilities taken over from another session (the other session turned competing).',
    labelNames: ['channel'] as const,
    registers: [registry],
  });
  const reauthenticationSeconds = new Histogram({
    name: 'gatehouse_reauthentication_seconds',
    help: "Time from a session's loss of trading (revoked, expired, reset, taken over) to the user's next trading session on that channel.",
    labelNames: ['channel'] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 900, 3600, 14_400, 86_400],
    registers: [registry],
  });
  new Gauge({
    name: 'gatehouse_active_sessions',
    help: 'Live sessions by channel and tier (read from the database at scrape time).',
    labelNames: ['channel', 'tier'] as const,
    registers: [registry],
    async collect() {
      const counts = await liveSessions();
      this.reset();
      for (const { channel, tier, count } of counts) this.inc({ channel, tier }, count);
    },
  });
  new Counter({
    name: 'gatehouse_bus_messages_total',
    help:
      'Event bus messages on Redis by result: published (Redis took it for the other nodes), failed (the other nodes ' +
      'missed it: Redis unreachable), received (from another node), handler_error (a handler threw).',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      const counts = busCounts();
      this.reset();
      if (counts === undefined) return;
      this.inc({ result: 'published' }, counts.published);
      this.inc({ result: 'failed' }, counts.publishFailures);
      this.inc({ result: 'received' }, counts.received);
      this.inc({ result: 'handler_error' }, counts.handlerErrors);
    },
  });
  new Gauge({
    name: 'gatehouse_bus_connected',
    help:
      'Whether the event bus reaches every node (1), or the node runs degraded (0: Redis unreachable; every ' +
      'authentication reads the database). Always 1 with one node.',
    registers: [registry],
    collect() {
      this.set(busConnected() ? 1 : 0);
    },
  });
  return { registry, logins, secondFactorSeconds, takeovers, reauthenticationSeconds };
}

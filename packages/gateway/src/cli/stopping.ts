/**
 * @module cli/stopping
 * How `gatehouse serve` stops. The first SIGTERM or SIGINT drains the gateway within `server.shutdownTimeoutMs`
 * (app/drain.ts) and exits 0 when everything finished and was written, 1 when the drain was cut at its bound or a
 * step failed (each logged with what was left). A second signal during the drain exits 1 at once, logging what was
 * still running: an operator who asks twice means now.
 */
import type { Logger } from 'pino';
import { type Gateway, stopWithin } from '../app/index.js';

/** Exit status of a drained stop. */
export const EXIT_DRAINED = 0;
/** Exit status of a stop that was cut (its bound, a second signal) or failed. */
export const EXIT_CUT = 1;

export function stopOnSignals(gateway: Gateway, graceMs: number, logger: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.error(
        {
          signal,
          stage: gateway.drain.stage,
          requests: gateway.drain.inFlight(),
          ...gateway.drain.open(),
          ...gateway.pendingWrites(),
        },
        'second signal: stopping at once, cutting what is listed',
      );
      process.exit(EXIT_CUT);
    }
    stopping = true;
    logger.info({ signal, graceMs }, 'shutting down: draining');
    stopWithin(gateway, graceMs, logger).then(
      (stopped) => process.exit(stopped.outcome === 'drained' ? EXIT_DRAINED : EXIT_CUT),
      () => process.exit(EXIT_CUT),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/**
 * @module cli/serving
 * The line `gatehouse serve` prints once it listens: the URL clients use, which is the gateway's public URL and so
 * its OAuth issuer (config/public-url.ts) — `http://127.0.0.1:8080` under `--host 127.0.0.1`, never a name the
 * gateway would refuse in an assertion's `aud` or a proof's `htu`. The listener's own address is added when it
 * differs (a configured `server.publicUrl`, such as a proxy's). And the warning a start with the failure sandbox on
 * outside development prints.
 */
import { type Config, isDevelopment } from '../config/index.js';

/** `Gatehouse is serving on <public URL> (…)`, from the resolved public URLs and the listener's address. */
export function servingLine(
  urls: { readonly base: string; readonly derived: boolean },
  listening: string,
  store: string,
): string {
  const same = urls.derived || new URL(urls.base).origin === new URL(listening).origin;
  return `Gatehouse is serving on ${urls.base} (${same ? '' : `listening on ${listening}; `}${store})`;
}

/**
 * The banner a start prints on stderr when the failure sandbox is on outside development (listening beyond
 * loopback, or behind a proxy): anyone with a session may make logins, sessions and orders fail there on purpose,
 * so it must not be taken for production. Null when the sandbox is off, or on a development gateway (`--demo`).
 */
export function sandboxWarning(config: Config): string | null {
  if (!config.sandbox.enabled || isDevelopment(config)) return null;
  return (
    '!!! FAILURE SANDBOX ON: anyone may make logins, sessions and orders fail on purpose here ' +
    '(sandbox.enabled). This is not a production gateway. !!!'
  );
}

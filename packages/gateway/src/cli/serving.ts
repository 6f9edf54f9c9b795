/**
 * @module cli/serving
 * The line `gatehouse serve` prints once it listens: the URL clients use, which is the gateway's public URL and so
 * its OAuth issuer (config/public-url.ts) — `http://127.0.0.1:8080` under `--host 127.0.0.1`, never a name the
 * gateway would refuse in an assertion's `aud` or a proof's `htu`. The listener's own address is added when it
 * differs (a configured `server.publicUrl`, such as a proxy's).
 */

/** `Gatehouse is serving on <public URL> (…)`, from the resolved public URLs and the listener's address. */
export function servingLine(
  urls: { readonly base: string; readonly derived: boolean },
  listening: string,
  store: string,
): string {
  const same = urls.derived || new URL(urls.base).origin === new URL(listening).origin;
  return `Gatehouse is serving on ${urls.base} (${same ? '' : `listening on ${listening}; `}${store})`;
}

/**
 * The start-up line names the URL the gateway takes as its public URL and OAuth issuer, not a look-alike; a start
 * with the failure sandbox on outside development is warned about.
 */
import { describe, expect, it } from 'vitest';
import { defaultConfig, resolvePublicUrls } from '../config/index.js';
import { sandboxWarning, servingLine } from './serving.js';

function urlsFor(server: Record<string, unknown>) {
  const urls = resolvePublicUrls(defaultConfig({ server }));
  urls.listening(43_210);
  return urls;
}

describe('the serving line', () => {
  it('prints 127.0.0.1 under --host 127.0.0.1: the issuer clients must name', () => {
    const urls = urlsFor({ host: '127.0.0.1', port: 0 });
    expect(urls.issuer).toBe('http://127.0.0.1:43210');
    expect(servingLine(urls, 'http://127.0.0.1:43210', 'sqlite g.db')).toBe(
      'Gatehouse is serving on http://127.0.0.1:43210 (sqlite g.db)',
    );
  });

  it('prints localhost under the default host, whichever address the listener reports first', () => {
    const urls = urlsFor({ port: 0 });
    expect(servingLine(urls, 'http://[::1]:43210', 'sqlite g.db')).toBe(
      'Gatehouse is serving on http://localhost:43210 (sqlite g.db)',
    );
  });

  it('prints a configured public URL, with the listener beside it', () => {
    const urls = urlsFor({ host: '0.0.0.0', port: 8080, publicUrl: 'https://gateway.example/' });
    expect(servingLine(urls, 'http://0.0.0.0:8080', 'postgres')).toBe(
      'Gatehouse is serving on https://gateway.example (listening on http://0.0.0.0:8080; postgres)',
    );
  });
});

describe('the failure sandbox warning', () => {
  it('is printed for a sandbox on beyond loopback or behind a proxy', () => {
    for (const server of [
      { host: '0.0.0.0', publicUrl: 'https://gateway.example' },
      { host: '127.0.0.1', trustedProxies: ['127.0.0.1'], publicUrl: 'https://gateway.example' },
    ]) {
      const warning = sandboxWarning(defaultConfig({ server, sandbox: { enabled: true } }));
      expect(warning, JSON.stringify(server)).toMatch(
        /^!!! FAILURE SANDBOX ON: .*not a production gateway\. !!!$/,
      );
    }
  });

  it('is not printed for a sandbox off, nor on a development gateway (loopback, no proxy: --demo)', () => {
    expect(
      sandboxWarning(defaultConfig({ server: { host: '0.0.0.0', publicUrl: 'https://g.example' } })),
    ).toBeNull();
    expect(sandboxWarning(defaultConfig({ sandbox: { enabled: true } }))).toBeNull();
    expect(
      sandboxWarning(defaultConfig({ server: { host: '127.0.0.1' }, sandbox: { enabled: true } })),
    ).toBeNull();
  });
});

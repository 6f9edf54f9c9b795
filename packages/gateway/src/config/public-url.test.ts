/** The public URL and issuer: configured, or derived from the listener in development only. */
import { describe, expect, it } from 'vitest';
import { defaultConfig, isDevelopment, isLoopbackHost, loadConfig, resolvePublicUrls } from './index.js';

describe('development', () => {
  it('is a loopback listener that trusts no proxy', () => {
    for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]'])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'gateway.example', 'localhost.example'])
      expect(isLoopbackHost(host), host).toBe(false);
    expect(isDevelopment(defaultConfig())).toBe(true);
    expect(isDevelopment(defaultConfig({ server: { trustedProxies: ['127.0.0.1'] } }))).toBe(false);
    expect(isDevelopment(defaultConfig({ server: { host: '0.0.0.0' } }))).toBe(false);
  });

  it('derives the public URL and issuer from the listener, as `npm start` serves them', () => {
    const urls = resolvePublicUrls(defaultConfig());
    expect(urls).toMatchObject({
      base: 'http://localhost:8080',
      origin: 'http://localhost:8080',
      issuer: 'http://localhost:8080',
      derived: true,
    });
    expect(resolvePublicUrls(defaultConfig({ server: { host: '::1', port: 9000 } })).base).toBe(
      'http://[::1]:9000',
    );
  });

  it('takes the port the listener was given when it asked for any (port 0)', () => {
    const urls = resolvePublicUrls(defaultConfig({ server: { host: '127.0.0.1', port: 0 } }));
    urls.listening(43_210);
    expect(urls.base).toBe('http://127.0.0.1:43210');
    expect(urls.issuer).toBe('http://127.0.0.1:43210');
  });
});

describe('configured', () => {
  it('uses server.publicUrl and oauth.issuer as given, whatever the listener', () => {
    const urls = resolvePublicUrls(
      defaultConfig({
        server: { host: '0.0.0.0', publicUrl: 'https://gateway.example:443/' },
        oauth: { issuer: 'https://gateway.example/' },
      }),
    );
    urls.listening(8080);
    expect(urls).toMatchObject({
      base: 'https://gateway.example:443',
      origin: 'https://gateway.example',
      issuer: 'https://gateway.example',
      derived: false,
    });
  });

  it('defaults the issuer to the public URL', () => {
    const urls = resolvePublicUrls(
      defaultConfig({ server: { host: '0.0.0.0', publicUrl: 'https://gateway.example' } }),
    );
    expect(urls.issuer).toBe('https://gateway.example');
  });

  it('is required outside development, also when only the issuer is set', () => {
    for (const config of [
      defaultConfig({ server: { host: '0.0.0.0' } }),
      defaultConfig({
        server: { trustedProxies: ['10.0.0.0/8'] },
        oauth: { issuer: 'https://gateway.example' },
      }),
    ]) {
      expect(() => resolvePublicUrls(config)).toThrow(/server\.publicUrl.*GATEHOUSE_SERVER_PUBLIC_URL/);
    }
  });

  it('accepts only scheme, host and port, from the file or GATEHOUSE_SERVER_PUBLIC_URL', () => {
    expect(
      loadConfig({ env: { GATEHOUSE_SERVER_PUBLIC_URL: 'https://gateway.example' } }).server.publicUrl,
    ).toBe('https://gateway.example');
    for (const bad of [
      'https://gateway.example/gatehouse',
      'https://gateway.example/?x=1',
      'https://user:pw@gateway.example',
      'ftp://gateway.example',
      'gateway.example',
    ]) {
      expect(() => loadConfig({ env: { GATEHOUSE_SERVER_PUBLIC_URL: bad } }), bad).toThrow(
        /server\.publicUrl/,
      );
    }
  });
});

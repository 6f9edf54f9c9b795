/**
 * The error catalogue and its documentation stay in step, the authorization server's OAuth error codes included; the
 * envelope is the same for every code.
 */
import { readFileSync } from 'node:fs';
import { ERROR_CODES, OAUTH_ERROR_CODES } from '@gatehouse/protocol';
import { describe, expect, it } from 'vitest';
import { OAUTH_ERROR_STATUS } from '../oauth/errors.js';
import { ERROR_CATALOGUE, GatehouseError, toEnvelope } from './index.js';

const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8');
/** The table row of `code` in docs/errors.md (a row starts with the code in backticks). */
const rowOf = (code: string) => doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));

describe('error catalogue', () => {
  it('covers exactly the codes the protocol shares with clients, in the same order', () => {
    expect(Object.keys(ERROR_CATALOGUE)).toEqual([...ERROR_CODES]);
  });

  it('documents every code with its HTTP status in docs/errors.md', () => {
    for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) {
      const row = rowOf(code);
      expect(row, `docs/errors.md lacks ${code}`).toBeDefined();
      expect(row).toContain(`| ${status} |`);
    }
  });

  it('documents every OAuth error code of the protocol with its HTTP status in docs/errors.md', () => {
    const oauth = doc.slice(doc.indexOf('\n## OAuth errors'));
    expect(oauth.length).toBeLessThan(doc.length);
    for (const code of OAUTH_ERROR_CODES) {
      const row = oauth.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      expect(row, `docs/errors.md lacks the OAuth error ${code}`).toBeDefined();
      // access_denied reaches the app in the redirect to its redirect_uri, never as a response.
      expect(row).toContain(
        code === 'access_denied' ? '| — (redirect) |' : `| ${OAUTH_ERROR_STATUS[code]} |`,
      );
    }
  });

  it('builds the one envelope', () => {
    const error = new GatehouseError('TOO_MANY_ATTEMPTS', undefined, { retryAfterMs: 1000 });
    expect(error.status).toBe(429);
    expect(toEnvelope(error)).toEqual({
      error: {
        code: 'TOO_MANY_ATTEMPTS',
        message: ERROR_CATALOGUE.TOO_MANY_ATTEMPTS.message,
        details: { retryAfterMs: 1000 },
      },
    });
    expect(toEnvelope(new GatehouseError('NOT_FOUND'))).toEqual({
      error: { code: 'NOT_FOUND', message: 'No such route.' },
    });
  });
});

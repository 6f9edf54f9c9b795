/** The error catalogue and its documentation stay in step; the envelope is the same for every code. */
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '@gatehouse/protocol';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, GatehouseError, toEnvelope } from './index.js';

describe('error catalogue', () => {
  it('covers exactly the codes the protocol shares with clients, in the same order', () => {
    expect(Object.keys(ERROR_CATALOGUE)).toEqual([...ERROR_CODES]);
  });

  it('documents every code with its HTTP status in docs/errors.md', () => {
    const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      expect(row, `docs/errors.md lacks ${code}`).toBeDefined();
      expect(row).toContain(`| ${status} |`);
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

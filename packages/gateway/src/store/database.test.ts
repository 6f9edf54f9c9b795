/** The database URL as the start-up line and logs show it: no password, in the user part or in the query. */
import { describe, expect, it } from 'vitest';
import { redactUrl } from './database.js';

describe('redactUrl', () => {
  it('hides the password of the user part and secret query parameters, and keeps the rest', () => {
    expect(redactUrl('postgres://gh:TopSecret@db:5432/gatehouse')).toBe(
      'postgres://gh:***@db:5432/gatehouse',
    );
    const shown = redactUrl(
      'postgres://gh@db/gatehouse?password=TopSecret&sslpassword=Other&sslkey=/k.pem&sslmode=verify-full',
    );
    expect(shown).not.toContain('TopSecret');
    expect(shown).not.toContain('Other');
    expect(shown).toContain('sslmode=verify-full');
    expect(shown).toContain('password=***');
    expect(redactUrl('not a url')).toBe('postgres://(unparseable url)');
  });
});

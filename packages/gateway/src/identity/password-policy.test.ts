/**
 * The password policy (ASVS 5.0 V6.2): length, any composition, not common or breached, no context-specific words,
 * and refusals that name the rule, never the password.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, GatehouseError } from '../core/index.js';
import { LEGAL_ENTITIES } from './entities.js';
import {
  assertPasswordAllowed,
  CONTEXT_WORDS,
  loadPasswordPolicy,
  type PasswordPolicy,
} from './password-policy.js';

const OWNER = { username: 'carol.cooper', displayName: 'Carol Cooper (UK)' };
const LIST: string[] = (() => {
  const lines = readFileSync(new URL('../../wordlists/common-passwords.txt', import.meta.url), 'utf8').split(
    '\n',
  );
  return lines.slice(lines.indexOf('') + 1).filter((l) => l.length > 0);
})();

let policy: PasswordPolicy;
beforeAll(async () => {
  policy = await loadPasswordPolicy({ minLength: 12, maxLength: 128, contextWords: ['Gatehouse'] });
});

const check = (password: string) => policy.check(password, OWNER);

describe('password policy', () => {
  // ASVS 6.2.1 (at least 8, 15 recommended: 12 here), 6.2.9 (at least 64 allowed: 128 here).
  it('needs 12 to 128 characters, counted as code points of the NFKC form', () => {
    expect(check('violet-anchor')).toBeNull();
    expect(check('violet-anch')).toBe('too_short');
    const long = 'quiet harbour lanterns drift '.repeat(5).slice(0, 128);
    expect([...long]).toHaveLength(128);
    expect(check(long)).toBeNull();
    expect(check(long.slice(0, 64))).toBeNull();
    expect(check(`${long}x`)).toBe('too_long');
    // Twelve characters outside the BMP are twelve, not twenty-four.
    expect(check('🦊🐙🦉🐢🦔🐝🦋🐌🦀🐬🦩🐿')).toBeNull();
  });

  // ASVS 6.2.5: no composition rules — any characters, no class required.
  it('accepts passwords of any composition', () => {
    for (const password of [
      'lanterns drift over quiet water',
      'ÜBERMUTIGE ZWERGE TANZEN',
      'пароль-для-моей-кошки',
      '🦊🐙🦉🐢🦔🐝🦋🐌🦀🐬🦩🐿',
      '  spaces at both ends  ',
      'x7#Lq!v9@Zm2',
    ]) {
      expect(check(password), password).toBeNull();
    }
  });

  // ASVS 6.2.4: at least the 3,000 most common passwords, in the forms that meet the length policy.
  it('refuses the 3,000 most common passwords made long enough in the ways people do', () => {
    const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
    const fill = (s: string, tail: string) => {
      let out = s;
      for (let i = 0; [...out].length < 12; i += 1) out += tail[i % tail.length];
      return out;
    };
    // Look-alikes are put for the letters of words (`p@ssw0rd`), not into keyboard and digit patterns.
    const leet = (s: string) =>
      /^[a-z]+$/.test(s) ? s.replace(/a/g, '@').replace(/o/g, '0').replace(/e/g, '3').replace(/s/g, '$') : s;
    const escaped: string[] = [];
    for (const common of LIST.slice(0, 3000)) {
      for (const variant of [
        fill(common, '1234567890'),
        fill(`${capital(common)}2024`, '!'),
        common.repeat(Math.ceil(12 / [...common].length)),
        fill(`${leet(common)}!`, '!'),
        fill(`!!${common}`, '9876543210'),
      ]) {
        if (check(variant) !== 'common') escaped.push(variant);
      }
    }
    expect(escaped).toEqual([]);
  });

  it('refuses every listed password of policy length, and the usual patterns', () => {
    const long = LIST.filter((p) => [...p].length >= 12);
    expect(long.length).toBeGreaterThan(300);
    for (const password of long) expect(check(password), password).toBe('common');
    for (const password of [
      'password1234',
      'Password123!',
      'P@ssw0rd2024!',
      'iloveyou1234',
      'i love you 2024',
      '123456789012',
      '098765432109',
      'aaaaaaaaaaaa',
      'abcabcabcabc',
      'monkeymonkey',
      'qwertyuiop12',
      'Love2024!!!!',
      '!!dragon123456',
      'sunshine!!!!!!!!!!!!!!!!',
    ]) {
      expect(check(password), password).toBe('common');
    }
    // Words of the list inside a longer passphrase, or with random characters, are not refused.
    expect(check('sunshine over the harbour')).toBeNull();
    expect(check('dragon83920174')).toBeNull();
  });

  // ASVS 6.2.12: breached passwords — the bundled list is drawn from breach corpora, and a broker adds its own.
  it('refuses breached passwords deep in the list and in a blocklist file, plain or SHA-1 (Pwned Passwords)', async () => {
    const deep = LIST.slice(40_000)
      .filter((p) => /^[a-z]{8,}$/.test(p))
      .slice(0, 50);
    expect(deep).toHaveLength(50);
    for (const password of deep) expect(check(`${password}2024`), password).toBe('common');

    const dir = mkdtempSync(join(tmpdir(), 'gh-blocklist-'));
    const file = join(dir, 'breached.txt');
    const sha1 = createHash('sha1').update('Zephyr-Quokka-77', 'utf8').digest('hex').toUpperCase();
    writeFileSync(file, `velvet-mongoose-orbit\r\n${sha1}:42\n`);
    const withFile = await loadPasswordPolicy({ minLength: 12, maxLength: 128, blocklistFile: file });
    expect(withFile.check('Velvet-Mongoose-Orbit', OWNER)).toBe('common');
    expect(withFile.check('velvet-mongoose-orbit!!', OWNER)).toBe('common');
    expect(withFile.check('Zephyr-Quokka-77', OWNER)).toBe('common');
    // The SHA-1 list is compared exactly, as Pwned Passwords is.
    expect(withFile.check('zephyr-quokka-77', OWNER)).toBeNull();

    await expect(
      loadPasswordPolicy({ minLength: 12, maxLength: 128, blocklistFile: join(dir, 'missing.txt') }),
    ).rejects.toThrow(ConfigError);
    await expect(
      loadPasswordPolicy({ minLength: 12, maxLength: 128, blocklistFile: join(dir, 'missing.txt') }),
    ).rejects.toThrow(/password\.blocklistFile/);
  });

  // ASVS 6.1.2 (a documented list of context-specific words) and 6.2.11 (it is used).
  it('refuses the documented context words, the configured ones and the user’s own names, in any disguise', () => {
    const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
    const documented = readme.slice(readme.indexOf('### Passwords'));
    for (const word of CONTEXT_WORDS) expect(documented, `README lacks ${word}`).toContain(`\`${word}\``);

    const words = [
      ...CONTEXT_WORDS,
      ...LEGAL_ENTITIES.map((e) => e.code.toLowerCase()).filter((c) => c.length >= 4),
    ];
    for (const word of words) {
      expect(policy.contextWords).toContain(word);
      expect(check(`my ${word} passphrase`), word).toBe('context');
    }
    for (const password of [
      'Gate-House forever',
      'G4teh0use is home',
      'ilove tr@ding most',
      'interactive brokers rock',
      'ibllc account one',
      'CarolCooper-2024-xyz',
      'cooper family tree',
      'carol.cooper 4ever!',
    ]) {
      expect(check(password), password).toBe('context');
    }
    // Words under 4 characters are not checked: "UK" in the display name does not forbid "uk".
    expect(check('walks in the uk hills')).toBeNull();
  });

  it('answers PASSWORD_POLICY naming the rule, never the password', () => {
    const attempt = 'gatehouse-my-secret-42';
    let caught: unknown;
    try {
      assertPasswordAllowed(policy, attempt, OWNER);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(GatehouseError);
    const error = caught as GatehouseError;
    expect(error.code).toBe('PASSWORD_POLICY');
    expect(error.details).toEqual({ rule: 'context' });
    expect(error.message).toMatch(/name of the service/);
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain('secret');
    expect(() => assertPasswordAllowed(policy, 'short', OWNER)).toThrow(/at least 12 characters/);
  });
});

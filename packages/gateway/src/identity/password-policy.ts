/**
 * @module identity/password-policy
 * What a new password must be, wherever one is set: by the user (`POST /v1/password`) or by an operator (`gatehouse
 * user create`, `user reset-password`). ASVS 5.0 6.2.1, 6.2.4, 6.2.5, 6.2.9, 6.2.11, 6.2.12; NIST SP 800-63B
 * §5.1.1.2. The rules, in the order they are checked:
 *
 * - **Length** (`too_short`, `too_long`): `password.minLength` to `password.maxLength` characters (code points of the
 *   NFKC form), 12 to 128 by default. No composition rules: any character, no required classes.
 * - **Not common or breached** (`common`): not one of the common and breached passwords (the bundled list, 49,233
 *   passwords from breach corpora, most frequent first, plus `password.blocklistFile`), nor one of them with little
 *   added before or after — up to 6 characters, or a year, a run or a repeated character (`Password2024!`,
 *   `!!dragon123456`, `Love2024!!!!`) — with its words run together (`i love you`) or with look-alike characters
 *   (`p@ssw0rd`); not a run (`123456789012`) nor a short unit repeated (`abcabcabcabc`, `monkeymonkey`). The list holds few passwords of 12 characters or more (308): it is
 *   these variants that make it cover the common passwords a 12-character minimum still lets through (6.2.4 asks
 *   for the top 3,000 that match the policy). Comparison is in lower case; so is the list.
 * - **No context-specific words** (`context`, 6.1.2 and 6.2.11): the password may not contain, in any case, with
 *   separators removed or look-alike characters, a word of the documented list: the product and broker names in
 *   `CONTEXT_WORDS`, the legal entities' codes, `password.contextWords` and `totp.issuer` (the name the broker shows
 *   in authenticator apps), and the user's own username and display-name words. Words shorter than 4 characters are
 *   not checked (they occur by chance).
 *
 * The checks never change what is stored or verified: the password is hashed and verified exactly as received,
 * NFKC-normalised only — never trimmed, truncated or case-folded (6.2.8). The bundled list is read once per process
 * (immutable data, shared like code) into a Set; nothing is read per request.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError, GatehouseError } from '../core/index.js';
import { LEGAL_ENTITIES } from './entities.js';

export type PasswordRule = 'too_short' | 'too_long' | 'common' | 'context' | 'unchanged';

/** The names of the product and the broker that no password may contain (with the entity codes; see the module). */
export const CONTEXT_WORDS: readonly string[] = [
  'gatehouse',
  'broker',
  'trading',
  'trader',
  'ibkr',
  'interactivebrokers',
];

/** Context words shorter than this are not checked. */
const MIN_CONTEXT_WORD = 4;

/** Whose password it is: their names are context words too. */
export interface PasswordOwner {
  username: string;
  displayName: string;
}

export interface PasswordPolicyOptions {
  minLength: number;
  maxLength: number;
  /** More context words (`password.contextWords`, `totp.issuer`). */
  contextWords?: readonly string[];
  /**
   * More passwords to refuse (`password.blocklistFile`): one a line, either the password itself (compared in lower
   * case, with the same variants as the bundled list) or its SHA-1 in hex, optionally followed by `:count` — the
   * format of Have I Been Pwned's Pwned Passwords download (compared exactly).
   */
  blocklistFile?: string;
}

export interface PasswordPolicy {
  /** The rule `password` breaks if `owner` set it, or null. (`unchanged` is the password change's own check.) */
  check(password: string, owner: PasswordOwner): PasswordRule | null;
  /** The product, broker and configured context words (each user's own names are added per check). */
  readonly contextWords: readonly string[];
  readonly minLength: number;
  readonly maxLength: number;
}

/** The coded refusal for a rule: `PASSWORD_POLICY` with a message naming the rule, never the password. */
export function passwordPolicyError(
  rule: PasswordRule,
  policy: Pick<PasswordPolicy, 'minLength' | 'maxLength'>,
): GatehouseError {
  const messages: Record<PasswordRule, string> = {
    too_short: `The password must have at least ${policy.minLength} characters.`,
    too_long: `The password must have at most ${policy.maxLength} characters.`,
    common:
      'The password is a common or breached password, or one with a few characters added. Choose another: several unrelated words make a strong one.',
    context:
      'The password contains your username or name, or the name of the service or the broker. Choose another.',
    unchanged: 'The new password must differ from the current one.',
  };
  return new GatehouseError('PASSWORD_POLICY', messages[rule], { rule });
}

/** Throws `PASSWORD_POLICY` if `owner` may not set `password`. */
export function assertPasswordAllowed(policy: PasswordPolicy, password: string, owner: PasswordOwner): void {
  const rule = policy.check(password, owner);
  if (rule !== null) throw passwordPolicyError(rule, policy);
}

const BUNDLED_LIST = new URL('../../wordlists/common-passwords.txt', import.meta.url);
let bundled: Promise<ReadonlySet<string>> | undefined;

/** The bundled list (see `wordlists/common-passwords.txt`: its header, up to the first empty line, is skipped). */
function bundledList(): Promise<ReadonlySet<string>> {
  bundled ??= readFile(BUNDLED_LIST, 'utf8').then((text) => {
    const lines = text.split('\n');
    return new Set(lines.slice(lines.indexOf('') + 1).filter((line) => line.length > 0));
  });
  return bundled;
}

const SHA1_LINE = /^([0-9a-f]{40})(?::\d+)?$/i;

async function extraList(file: string): Promise<{ plain: Set<string>; sha1: Set<string> }> {
  const plain = new Set<string>();
  const sha1 = new Set<string>();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`password.blocklistFile: cannot read ${file} (${(error as Error).message})`);
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.length === 0) continue;
    const hashed = SHA1_LINE.exec(line);
    if (hashed?.[1] !== undefined) sha1.add(hashed[1].toUpperCase());
    else plain.add(line.normalize('NFKC').toLowerCase());
  }
  return { plain, sha1 };
}

/** Reads the lists (once per process for the bundled one) and builds the policy. */
export async function loadPasswordPolicy(options: PasswordPolicyOptions): Promise<PasswordPolicy> {
  const common = await bundledList();
  const extra =
    options.blocklistFile === undefined
      ? { plain: new Set<string>(), sha1: new Set<string>() }
      : await extraList(options.blocklistFile);
  const listed = (s: string) => common.has(s) || extra.plain.has(s);
  const contextWords = [
    ...new Set(
      [...CONTEXT_WORDS, ...LEGAL_ENTITIES.map((e) => e.code), ...(options.contextWords ?? [])]
        .map(squash)
        .filter((w) => w.length >= MIN_CONTEXT_WORD),
    ),
  ];
  const { minLength, maxLength } = options;
  return {
    contextWords,
    minLength,
    maxLength,
    check(password, owner) {
      const normal = password.normalize('NFKC');
      const length = [...normal].length;
      if (length < minLength) return 'too_short';
      if (length > maxLength) return 'too_long';
      if (extra.sha1.size > 0 && extra.sha1.has(sha1Hex(normal))) return 'common';
      const lower = normal.toLowerCase();
      if (isCommon(lower, listed)) return 'common';
      if (containsContextWord(lower, [...contextWords, ...ownerWords(owner)])) return 'context';
      return null;
    },
  };
}

function sha1Hex(s: string): string {
  return createHash('sha1').update(s, 'utf8').digest('hex').toUpperCase();
}

/** Lower case, letters and digits only: `Gate-House` → `gatehouse`. */
function squash(s: string): string {
  return s
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, '');
}

/** The user's username and the words of it and of the display name, as context words. */
function ownerWords(owner: PasswordOwner): string[] {
  const words = [owner.username, ...`${owner.username} ${owner.displayName}`.split(/[^\p{L}\p{N}]+/u)];
  return words.map(squash).filter((w) => w.length >= MIN_CONTEXT_WORD);
}

/** Characters people put for letters (`p@ssw0rd`); `1` stands for `i` or `l`, so both are tried. */
const LOOK_ALIKES: Record<string, string> = {
  '0': 'o',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '7': 't',
  '8': 'b',
  '@': 'a',
  $: 's',
  '!': 'i',
  '|': 'l',
  '+': 't',
};

function unLeet(s: string, one: 'i' | 'l' | null): string {
  // With `one: null` only symbols are read as letters: `@bc123` is `abc123`, its digits being digits.
  const pattern = one === null ? /[@$!|+]/g : /[0134578@$!|+]/g;
  return s.replace(pattern, (c) => (c === '1' ? (one ?? c) : (LOOK_ALIKES[c] ?? c)));
}

/** The forms of `s` compared with the lists: as is, words run together, look-alikes read as letters. */
function variants(s: string): Set<string> {
  const out = new Set<string>();
  for (const form of [s, unLeet(s, 'i'), unLeet(s, 'l'), unLeet(s, null)]) {
    out.add(form);
    out.add(form.replace(/[^\p{L}\p{N}]/gu, ''));
  }
  return out;
}

/** Runs people type: the alphabet, the digits (wrapping: `1234567890123`) and the keyboard rows, either way. */
const RUN_ALPHABETS = ['abcdefghijklmnopqrstuvwxyz', '1234567890', 'qwertyuiop', 'asdfghjkl', 'zxcvbnm'];

function isRun(s: string): boolean {
  if (s.length < 3) return false;
  return RUN_ALPHABETS.some((alphabet) => {
    const cycle = alphabet.repeat(Math.ceil(s.length / alphabet.length) + 1);
    return cycle.includes(s) || [...cycle].reverse().join('').includes(s);
  });
}

/** The shortest unit `s` repeats (`abcabc` → `abc`), or undefined. */
function repeatedUnit(chars: readonly string[]): string | undefined {
  const n = chars.length;
  for (let size = 1; size <= n / 2; size += 1) {
    if (n % size !== 0) continue;
    let repeats = true;
    for (let i = size; i < n && repeats; i += 1) repeats = chars[i] === chars[i - size];
    if (repeats) return chars.slice(0, size).join('');
  }
  return undefined;
}

/** A guessable token: listed (in any variant), a run, or a short, listed or run unit repeated. */
function isWeakToken(s: string, listed: (s: string) => boolean): boolean {
  if (s.length === 0) return false;
  for (const v of variants(s)) if (listed(v)) return true;
  if (isRun(s)) return true;
  const unit = repeatedUnit([...s]);
  if (unit === undefined) return false;
  if ([...unit].length <= 4 || isRun(unit)) return true;
  for (const v of variants(unit)) if (listed(v)) return true;
  return false;
}

/** A piece people add without thinking: up to 3 characters, a year, a run, or one or two characters repeated. */
function isSimplePiece(chars: readonly string[]): boolean {
  if (chars.length <= 3) return true;
  const s = chars.join('');
  if (/^(19|20)\d\d$/.test(s) || isRun(s)) return true;
  const unit = repeatedUnit(chars);
  return unit !== undefined && [...unit].length <= 2;
}

/**
 * Characters added before or after a common password that add little: up to 6 of any kind, or at most two simple
 * pieces (`2024!!!!`, `12345678`). Eight random digits are not trivial: `dragon83920174` is not refused.
 */
function isTrivialAddition(chars: readonly string[]): boolean {
  if (chars.length <= 6 || isSimplePiece(chars)) return true;
  for (let k = 1; k < chars.length; k += 1)
    if (isSimplePiece(chars.slice(0, k)) && isSimplePiece(chars.slice(k))) return true;
  return false;
}

/** Additions tried on each side: up to this many characters, and the whole run of non-letters. */
const SHORT_ADDITION = 10;

/**
 * A common password, as is or with non-letters added before or after it (`Password2024!`). The additions tried
 * are the short ones and the whole non-letter run at each end, so the work is bounded whatever the length.
 */
function isCommon(lower: string, listed: (s: string) => boolean): boolean {
  if (isWeakToken(lower, listed)) return true;
  const chars = [...lower];
  const n = chars.length;
  const letter = (c: string | undefined) => c !== undefined && /\p{L}/u.test(c);
  let lead = 0;
  while (lead < n && !letter(chars[lead])) lead += 1;
  let trail = 0;
  while (trail < n && !letter(chars[n - 1 - trail])) trail += 1;
  const cuts = (max: number) => [...new Set([...Array(Math.min(max, SHORT_ADDITION) + 1).keys(), max])];
  for (const i of cuts(lead)) {
    for (const j of cuts(trail)) {
      if ((i === 0 && j === 0) || i + j >= n) continue;
      const before = chars.slice(0, i);
      const after = chars.slice(n - j);
      if (!isTrivialAddition(before) || !isTrivialAddition(after)) continue;
      if (isWeakToken(chars.slice(i, n - j).join(''), listed)) return true;
    }
  }
  return false;
}

/** Whether the password contains a context word, in any of its variants with separators removed. */
function containsContextWord(lower: string, words: readonly string[]): boolean {
  const forms = [...variants(lower)];
  return words.some((word) => forms.some((form) => form.includes(word)));
}

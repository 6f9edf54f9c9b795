/**
 * The security and reliability documents stay true to the suite: every test that docs/security/asvs.md, fapi2.md and
 * reliability.md cite exists under the title cited, and the ASVS map has one row for each level-1 and level-2
 * requirement of its chapters, each with a test or a stated reason.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** Titles compared without typographic differences: curly quotes, the ellipsis an abridged title ends with. */
const plain = (text: string) => text.replace(/[’‘]/g, "'").replace(/\s+/g, ' ').trim();

/** `file` › title pairs in a "shown by" cell; `…` abridges a title, `;` separates citations. */
function citations(cell: string): { file: string; titles: string[] }[] {
  const out: { file: string; titles: string[] }[] = [];
  for (const part of cell.split(/;\s*/)) {
    const match = /`([^`]+\.test\.ts)`((?:\s*›\s*[^›]+)+)/.exec(part);
    if (match === null) continue;
    const titles = (match[2] as string)
      .split('›')
      .map((t) =>
        plain(t)
          .replace(/,$/, '')
          .replace(/\s*\([^)]*\)$/, '')
          .replace(/^…\s*/, '')
          .replace(/[,.]?\s*….*$/, ''),
      )
      .filter((t) => t.length > 0);
    out.push({ file: match[1] as string, titles });
  }
  return out;
}

function sourceOf(file: string): string | undefined {
  for (const candidate of [file, join('packages/gateway/src', file)])
    if (existsSync(join(root, candidate))) return plain(read(candidate));
  return undefined;
}

describe('security documents', () => {
  for (const doc of ['docs/security/asvs.md', 'docs/security/fapi2.md', 'docs/reliability.md']) {
    it(`${doc} cites only tests that exist, under their titles`, () => {
      const rows = read(doc)
        .split('\n')
        .filter((l) => l.startsWith('|'))
        .map((l) => l.replace(/\s*\|\s*$/, ''));
      const missing: string[] = [];
      let cited = 0;
      for (const row of rows) {
        const cells = row.split(' | ');
        for (const { file, titles } of citations(cells[cells.length - 1] ?? '')) {
          const source = sourceOf(file);
          if (source === undefined) {
            missing.push(`${file}: no such file`);
            continue;
          }
          for (const title of titles) {
            cited += 1;
            if (!source.includes(title)) missing.push(`${file} › ${title}`);
          }
        }
      }
      expect(cited).toBeGreaterThan(20);
      expect(missing).toEqual([]);
    });
  }

  it('maps every level-1 and level-2 requirement of V6, V7, V8 and V10 to a test or a reason', () => {
    const text = read('docs/security/asvs.md');
    const rows = text
      .split('\n')
      .filter((l) => /^\| \d+\.\d+\.\d+/.test(l))
      .map((l) => l.replace(/\s*\|\s*$/, ''));
    const numbers = rows.map((r) => (r.split(' | ')[0] as string).replace(/^\|\s*/, ''));
    // The standard's L1 and L2 requirement numbers of these chapters (ASVS 5.0.0); ranges stand for N/A groups.
    const expected = [
      ...['1.1', '1.2', '1.3'],
      ...['2.1', '2.2', '2.3', '2.4', '2.5', '2.6', '2.7', '2.8', '2.9', '2.10', '2.11', '2.12'],
      ...['3.1', '3.2', '3.3', '3.4', '4.1', '4.2', '4.3', '4.4'],
      ...['5.1', '5.2', '5.3', '5.4', '5.5', '6.1', '6.2', '6.3', '8.1', '8.2', '8.3', '8.4'],
    ]
      .map((n) => `6.${n}`)
      .concat(
        [
          '1.1',
          '1.2',
          '1.3',
          '2.1',
          '2.2',
          '2.3',
          '2.4',
          '3.1',
          '3.2',
          '4.1',
          '4.2',
          '4.3',
          '4.4',
          '4.5',
        ].map((n) => `7.${n}`),
        ['5.1', '5.2', '6.1', '6.2'].map((n) => `7.${n}`),
        ['1.1', '1.2', '2.1', '2.2', '2.3', '3.1', '4.1'].map((n) => `8.${n}`),
        ['1.1', '1.2', '2.1', '2.2', '3.1', '3.2', '3.3', '3.4'].map((n) => `10.${n}`),
        ['4.1', '4.2', '4.3', '4.4', '4.5', '4.6', '4.7', '4.8', '4.9', '4.10', '4.11'].map((n) => `10.${n}`),
        ['5.1–10.5.5', '6.1–10.6.2', '7.1', '7.2', '7.3'].map((n) => `10.${n}`),
      );
    expect(numbers).toEqual(expected);
    for (const row of rows) {
      const shown = row.split(' | ').at(-1) ?? '';
      expect(`${row.slice(0, 12)}: ${/\.test\.ts`|reason:|does not apply/.test(shown)}`).toBe(
        `${row.slice(0, 12)}: true`,
      );
    }
  });
});

/** The SDK's main entry runs in browsers: nothing in it may import a Node module (only `node.ts` does). */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('@gatehouse/sdk', () => {
  it('imports no Node module outside @gatehouse/sdk/node', () => {
    const dir = new URL('./', import.meta.url);
    const files = readdirSync(dir).filter(
      (f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'node.ts',
    );
    expect(files).toContain('supervisor.ts');
    for (const file of files) {
      const source = readFileSync(new URL(file, dir), 'utf8');
      expect(source, file).not.toMatch(/from '(node:|fs|path|crypto|os|http)/);
      expect(source, file).not.toMatch(/\bBuffer\b|\bprocess\./);
    }
  });
});

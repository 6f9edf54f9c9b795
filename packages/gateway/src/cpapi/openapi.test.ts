import { afterEach, describe, expect, it } from 'vitest';
import { type CpapiTest, startCpapiTest } from '../test-support/cpapi.js';
import { FACE_OPERATIONS, faceOpenApi } from './openapi.js';

let t: CpapiTest | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("the face's OpenAPI document", () => {
  it('documents every route the listener serves under /v1/api, and nothing it does not', async () => {
    t = await startCpapiTest();
    const served = t.listener.routes
      .filter((r) => r.includes(' /v1/api/') && !r.endsWith('/v1/api/ws') && !r.endsWith('/openapi.json'))
      .map((r) => r.replace(/:([A-Za-z]+)/g, '{$1}'))
      .sort();
    const documented = FACE_OPERATIONS.flatMap((op) =>
      op.methods.map((m) => `${m} /v1/api${op.path}`),
    ).sort();
    expect(served).toEqual(documented);
    const response = await t.call('GET', '/openapi.json');
    expect(response.statusCode).toBe(200);
    const document = response.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(document).toEqual(faceOpenApi());
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toHaveLength(new Set(FACE_OPERATIONS.map((op) => op.path)).size);
  });
});

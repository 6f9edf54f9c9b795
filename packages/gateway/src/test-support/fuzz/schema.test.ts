/**
 * The fuzzer's generator checked against the schemas it reads: bodies drawn as `valid` for every operation of the
 * document pass the operation's own request schema (Ajv), and `invalid` ones of an object schema fail it — so the
 * fuzzer's "valid" requests reach the routes' handlers and its "invalid" ones test their refusals.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../gateway.js';
import { ADMIN_TOKEN } from '../program.js';
import { operationsOf } from './requests.js';
import { invalid, type Json, resolver, type Schema, valid } from './schema.js';

describe('the generator of test-support/fuzz', () => {
  let gw: TestGateway;
  let document: Json;
  beforeAll(async () => {
    gw = await startTestGateway({ config: { secrets: { adminApiToken: ADMIN_TOKEN } } });
    document = (await gw.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Json;
  });
  afterAll(async () => {
    await gw?.close();
  });

  /** Each operation's request body schema, and a JSON Pointer to it in the document. */
  function bodySchemas(): [string, Schema, string][] {
    const pointer = (...parts: string[]) =>
      parts.map((p) => `/${encodeURIComponent(p.replace(/~/g, '~0').replace(/\//g, '~1'))}`).join('');
    return operationsOf(document).flatMap((op) => {
      const content = (op.operation.requestBody as Json | undefined)?.content as
        | Record<string, Json>
        | undefined;
      const [type, media] = Object.entries(content ?? {})[0] ?? [];
      if (type === undefined || media === undefined) return [];
      const at = pointer('paths', op.path, op.method.toLowerCase(), 'requestBody', 'content', type, 'schema');
      return [[`${op.method} ${op.path}`, media.schema as Schema, at] as [string, Schema, string]];
    });
  }

  it('draws valid bodies that every operation’s request schema accepts, and invalid ones it refuses', () => {
    const ajv = new Ajv2020({ strict: false, validateSchema: false });
    addFormats.default(ajv);
    ajv.addSchema(document, 'openapi.json');
    const resolve = resolver(document);
    const schemas = bodySchemas();
    expect(schemas.length).toBeGreaterThan(30);
    const refusedValid: string[] = [];
    const acceptedInvalid: string[] = [];
    for (const [name, schema, at] of schemas) {
      const validate = ajv.compile({ $ref: `openapi.json#${at}` });
      for (const value of fc.sample(valid(schema, resolve), { seed: 1, numRuns: 20 }))
        if (!validate(value))
          refusedValid.push(
            `${name}: ${JSON.stringify(value).slice(0, 200)} ${ajv.errorsText(validate.errors)}`,
          );
      const objectLike =
        resolve(schema).type === 'object' &&
        Object.keys((resolve(schema).properties ?? {}) as Json).length > 0;
      if (!objectLike) continue;
      for (const value of fc.sample(invalid(schema, resolve), { seed: 1, numRuns: 20 }))
        if (validate(value)) acceptedInvalid.push(`${name}: ${JSON.stringify(value).slice(0, 200)}`);
    }
    expect(refusedValid).toEqual([]);
    // A probing draw may be one the schema allows (an unknown field where the OAuth forms allow any, an odd string
    // where any string goes): the route then decides; most are refused by the schema itself.
    let drawn = 0;
    for (const [, schema] of schemas)
      if (
        resolve(schema).type === 'object' &&
        Object.keys((resolve(schema).properties ?? {}) as Json).length > 0
      )
        drawn += 20;
    expect(acceptedInvalid.length / drawn).toBeLessThan(0.15);
  });
});

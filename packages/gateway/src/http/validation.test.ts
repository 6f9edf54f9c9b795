/**
 * `INVALID_REQUEST` says what was wrong: its message names the first problem (path and expectation), its details
 * list every one, and neither ever echoes a value the client sent.
 */
import { loginRequestSchema, orderRequestSchema } from '@gatehouse/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { GatehouseError } from '../core/index.js';
import { startTestGateway, type TestGateway } from '../test-support/gateway.js';
import { parseWith } from './kit.js';

function refusal(schema: z.ZodType, data: unknown): GatehouseError {
  try {
    parseWith(schema, data);
  } catch (error) {
    if (error instanceof GatehouseError) return error;
    throw error;
  }
  throw new Error('accepted');
}

const order = {
  clientOrderId: 'o-1',
  instrumentId: 265598,
  side: 'BUY',
  type: 'MKT',
  quantity: 1,
  tif: 'DAY',
};

describe('validation failures', () => {
  it('name the first problem in the message and list every problem in details.issues', () => {
    const error = refusal(orderRequestSchema, { ...order, side: 'HOLD', instrumentId: -3 });
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toBe('instrumentId: expected a positive number (and 1 more: details.issues)');
    expect(error.details).toEqual({
      issues: [
        { path: 'instrumentId', message: 'expected a positive number' },
        { path: 'side', message: 'expected one of "BUY", "SELL"' },
      ],
    });
  });

  it('put an unknown field first: a misspelt field explains the missing one', () => {
    const { quantity: _, ...rest } = order;
    const error = refusal(orderRequestSchema, { ...rest, qty: 1 });
    expect(error.message).toBe('unknown field "qty" (and 1 more: details.issues)');
    expect(error.details?.issues).toEqual([
      { path: '', message: 'unknown field "qty"' },
      { path: 'quantity', message: 'required' },
    ]);
  });

  it('show an unknown field name bounded, with control characters escaped and bidirectional overrides as ?', () => {
    const error = refusal(orderRequestSchema, { ...order, 'evil\u202e\u001bname': 1, ['x'.repeat(200)]: 2 });
    expect(error.message).toBe(`unknown fields "evil?\\u001bname", "${'x'.repeat(64)}…"`);
    expect(error.message).not.toContain('\u202e');
    expect(error.message).not.toContain('\u001b');
  });

  it('say what each kind of problem expected', () => {
    const schema = z.strictObject({
      name: z.string().min(2).max(4),
      count: z.number().int().max(5),
      tags: z.array(z.string()).min(1),
      at: z.iso.datetime(),
      url: z.string().url(),
      kind: z.literal('code'),
      step: z.number().multipleOf(5),
      nested: z.object({ flag: z.boolean() }),
    });
    const error = refusal(schema, {
      name: 'x',
      count: 1.5,
      tags: [],
      at: 'yesterday',
      url: 'nope',
      kind: 'other',
      step: 3,
      nested: { flag: 'yes' },
    });
    expect(error.details?.issues).toEqual([
      { path: 'name', message: 'expected at least 2 characters' },
      { path: 'count', message: 'expected an integer, got a number' },
      { path: 'tags', message: 'expected at least 1 item' },
      { path: 'at', message: 'expected an ISO 8601 date-time in UTC (2026-01-31T12:00:00Z)' },
      { path: 'url', message: 'expected a URL' },
      { path: 'kind', message: 'expected "code"' },
      { path: 'step', message: 'expected a multiple of 5' },
      { path: 'nested.flag', message: 'expected a boolean, got a string' },
    ]);
    expect(refusal(schema.shape.count, 6).message).toBe('expected a number ≤ 5');
  });

  it('never echo a value sent, a password least of all', () => {
    const secret = 'hunter2-correct-horse-battery';
    const tooLong = refusal(loginRequestSchema, {
      channel: 'web',
      username: 'alice',
      password: secret.repeat(40),
    });
    const wrongType = refusal(loginRequestSchema, {
      channel: 'web',
      username: 'alice',
      password: { value: secret },
    });
    expect(tooLong.message).toBe('password: expected at most 1024 characters');
    for (const error of [tooLong, wrongType]) {
      expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain('horse');
    }
    expect(wrongType.details?.issues).toContainEqual({
      path: 'password',
      message: 'expected a string, got an object',
    });
  });
});

describe('a refused request over HTTP', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('answers the envelope with the first problem as its message and the list in details', async () => {
    gw = await startTestGateway();
    const response = await gw.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { channel: 'web', username: 'alice', password: 12345678901234, remember: true },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: {
        code: 'INVALID_REQUEST',
        message: 'unknown field "remember" (and 1 more: details.issues)',
        details: {
          issues: [
            { path: '', message: 'unknown field "remember"' },
            { path: 'password', message: 'expected a string, got a number' },
          ],
        },
      },
    });
    expect(response.body).not.toContain('12345678901234');
  });
});

/**
 * The gate's rejections in plain words (issue 20, item 6): each code the availability checks can answer has a
 * short label and a message starting with it; a product rule's own words are kept; a code without words of its own
 * keeps the catalogue's message.
 */
import { describe, expect, it } from 'vitest';
import { plainWords } from './restrictions.js';

describe('plainWords', () => {
  it('names the missing permission, options level, disclosure and account flag', () => {
    expect(
      plainWords({ outcome: 'reject', code: 'PERMISSION_MISSING', details: { permission: 'STK:HK' } }),
    ).toEqual({
      summary: 'Stocks · HK not permitted on this account',
      message:
        'Stocks · HK not permitted on this account. The account has no trading permission for stocks in Hong Kong.',
    });
    expect(
      plainWords({
        outcome: 'reject',
        code: 'OPTIONS_LEVEL_INSUFFICIENT',
        details: { required: 2, level: 0 },
      })?.summary,
    ).toBe('Options level 2 needed — this account has 0');
    expect(
      plainWords({ outcome: 'reject', code: 'DISCLOSURE_REQUIRED', details: { disclosure: 'futures_risk' } })
        ?.summary,
    ).toBe('Accept the futures risk disclosure first');
    expect(plainWords({ outcome: 'reject', code: 'ACCOUNT_CLOSING_ONLY' })?.summary).toBe(
      'Closing only on this account',
    );
  });

  it('keeps a rule’s own words, labels a check’s message, and leaves other codes to the catalogue', () => {
    const rule = { summary: 'Label', message: 'Label. Why.' };
    expect(plainWords({ outcome: 'reject', code: 'PRODUCT_NOT_ELIGIBLE', ruleId: 'X', ...rule })).toEqual(
      rule,
    );
    expect(
      plainWords({
        outcome: 'reject',
        code: 'MARGIN_NOT_ALLOWED',
        message: 'A cash account cannot sell short.',
      }),
    ).toEqual({ summary: 'A cash account cannot sell short', message: 'A cash account cannot sell short.' });
    expect(plainWords({ outcome: 'reject', code: 'INSUFFICIENT_BUYING_POWER' })).toBeUndefined();
  });
});

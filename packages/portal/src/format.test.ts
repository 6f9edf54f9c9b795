import { describe, expect, it } from 'vitest';
import { money, orderLine, parseDecimal, price } from './format.js';

describe('parseDecimal (issue 20, item 10: a decimal comma is accepted)', () => {
  it('reads a decimal point, a decimal comma and thousands separators', () => {
    expect(parseDecimal('150.50')).toBe(150.5);
    expect(parseDecimal('150,50')).toBe(150.5);
    expect(parseDecimal(' 150,5 ')).toBe(150.5);
    expect(parseDecimal('1,234.50')).toBe(1234.5);
    expect(parseDecimal('1.234,50')).toBe(1234.5);
    expect(parseDecimal('10')).toBe(10);
  });

  it('refuses what is not one positive number', () => {
    for (const bad of ['', 'abc', '-5', '0', '1.2.3', '1,2,3.4.5', '12.', '1e3', 'NaN', '150,50 USD'])
      expect(parseDecimal(bad), bad).toBeNull();
  });
});

describe('order words', () => {
  it('names an order as a trader reads it', () => {
    const base = { side: 'BUY', quantity: 10, symbol: 'AAPL', instrumentId: 265598, stopPrice: null };
    expect(orderLine({ ...base, type: 'LMT', limitPrice: 150.5 })).toBe('BUY 10 AAPL LMT 150.50');
    expect(orderLine({ ...base, type: 'MKT', limitPrice: null })).toBe('BUY 10 AAPL MKT');
    expect(orderLine({ ...base, symbol: null, type: 'STP_LMT', limitPrice: 139, stopPrice: 140 })).toBe(
      'BUY 10 instrument 265598 STP 140.00 LMT 139.00',
    );
  });

  it('formats prices and amounts', () => {
    expect(price(150.5)).toBe('150.50');
    expect(price(0.1234)).toBe('0.1234');
    expect(price(null)).toBe('—');
    expect(money(1234.5, 'USD')).toBe('1,234.50 USD');
    expect(money(-3)).toBe('-3.00');
  });
});

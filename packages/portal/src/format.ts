/** Words for the numbers the pages show. */

/** A lifetime in words: whole days from two days up, else whole hours, else minutes ("7 days", "24 hours"). */
export function duration(ms: number): string {
  const [unit, size] =
    ms >= 2 * 86_400_000 && ms % 86_400_000 === 0
      ? ['day', 86_400_000]
      : ms % 3_600_000 === 0
        ? ['hour', 3_600_000]
        : ['minute', 60_000];
  const n = Math.round(ms / size);
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** An amount with two decimals, and its currency when given ("1,234.50 USD"). */
export function money(n: number, currency?: string | null): string {
  const text = n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return currency === undefined || currency === null ? text : `${text} ${currency}`;
}

/** A price with at least two decimals ("150.50", "0.1234"). */
export function price(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const decimals = Math.min(6, Math.max(2, (String(n).split('.')[1] ?? '').length));
  return n.toFixed(decimals);
}

/** What an order is, as a trader reads it: "BUY 10 AAPL LMT 150.50" (a stop adds "STP 140.00"). */
export function orderLine(order: {
  side: string;
  quantity: number;
  symbol: string | null;
  instrumentId: number;
  type: string;
  limitPrice: number | null;
  stopPrice: number | null;
}): string {
  const parts = [order.side, String(order.quantity), order.symbol ?? `instrument ${order.instrumentId}`];
  if (order.type === 'MKT') parts.push('MKT');
  if (order.stopPrice !== null) parts.push(`STP ${price(order.stopPrice)}`);
  if (order.limitPrice !== null) parts.push(`LMT ${price(order.limitPrice)}`);
  return parts.join(' ');
}

/**
 * A number as a person types it: "150.50", "150,50" (a decimal comma) or "1,234.5" / "1.234,5" (with a thousands
 * separator). Null when it is not one positive, finite number.
 */
export function parseDecimal(text: string): number | null {
  let s = text.trim().replace(/[\s\u00a0'_]/g, '');
  if (!/^\d[\d.,]*$/.test(s)) return null;
  const lastComma = s.lastIndexOf(',');
  const lastDot = s.lastIndexOf('.');
  // The later of the two marks is the decimal one; the other groups thousands.
  if (lastComma > lastDot) s = s.replace(/\./g, '').replace(',', '.');
  else s = s.replace(/,/g, '');
  if ((s.match(/\./g) ?? []).length > 1 || s.endsWith('.')) return null;
  const n = Number(s);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** How long ago an instant was, in words: "just now", "4 min ago", else the time of day ("at 09:12"). */
export function ago(iso: string, now = Date.now()): string {
  const minutes = Math.floor((now - Date.parse(iso)) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  return `at ${new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })}`;
}

/** An instant as the reader's locale writes a date and time; "never" for none. */
export const when = (iso: string | null): string => (iso === null ? 'never' : new Date(iso).toLocaleString());

const REGION_NAMES = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' });

/** A country code from an event's record in words (`DE` → "Germany"); "a new country" when it names none. */
export function countryWords(code: unknown): string {
  if (typeof code !== 'string' || !/^[A-Z]{2}$/.test(code)) return 'a new country';
  try {
    return REGION_NAMES.of(code) ?? code;
  } catch {
    return code;
  }
}

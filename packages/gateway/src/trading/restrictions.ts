/**
 * @module trading/restrictions
 * The gate's rejections in plain words: a short label ("ETF · UK not permitted on this account") and the message a
 * refusal carries, which starts with it. The code, rule id and details stay as the gate gave them — API clients
 * (the SDK, the CPAPI face) read those; people read these words, on the quote's badge before any order and in the
 * refusal after one.
 */
import type { Verdict } from './gate.js';

type Rejection = Extract<Verdict, { outcome: 'reject' }>;

export interface PlainWords {
  summary: string;
  message: string;
}

const ASSET_CLASS_WORDS: Record<string, { label: string; plural: string }> = {
  STK: { label: 'Stocks', plural: 'stocks' },
  ETF: { label: 'ETF', plural: 'ETFs' },
  OPT: { label: 'Options', plural: 'options' },
  FUT: { label: 'Futures', plural: 'futures' },
  FX: { label: 'FX', plural: 'currencies' },
  CRYPTO: { label: 'Crypto', plural: 'crypto' },
  BOND: { label: 'Bonds', plural: 'bonds' },
};

const REGION_WORDS: Record<string, string> = {
  US: 'the US',
  CA: 'Canada',
  UK: 'the UK',
  EU: 'the EU',
  HK: 'Hong Kong',
  JP: 'Japan',
  AU: 'Australia',
  GLOBAL: 'any market',
};

const DISCLOSURE_WORDS: Record<string, string> = {
  options_risk: 'options',
  futures_risk: 'futures',
  crypto_risk: 'crypto',
};

const sentence = (summary: string, explanation: string): PlainWords => ({
  summary,
  message: `${summary}. ${explanation}`,
});

/** The rejection in plain words (see the module's header); undefined for a code with no words of its own. */
export function plainWords(verdict: Rejection): PlainWords | undefined {
  if (verdict.summary !== undefined && verdict.message !== undefined)
    return { summary: verdict.summary, message: verdict.message };
  const details = verdict.details ?? {};
  switch (verdict.code) {
    case 'PERMISSION_MISSING': {
      const [assetClass = '', region = ''] = String(details.permission ?? '').split(':');
      const words = ASSET_CLASS_WORDS[assetClass] ?? { label: assetClass, plural: assetClass };
      return sentence(
        `${words.label} · ${region} not permitted on this account`,
        `The account has no trading permission for ${words.plural} in ${REGION_WORDS[region] ?? region}.`,
      );
    }
    case 'ACCOUNT_FROZEN':
      return sentence('Account frozen — no orders', 'No orders may be placed on this account.');
    case 'ACCOUNT_CLOSING_ONLY':
      return sentence(
        'Closing only on this account',
        'Orders may reduce positions held but not open new ones.',
      );
    case 'OPTIONS_LEVEL_INSUFFICIENT':
      return sentence(
        `Options level ${String(details.required)} needed — this account has ${String(details.level)}`,
        'The options strategy needs a higher options level than the account has.',
      );
    case 'DISCLOSURE_REQUIRED': {
      const product = DISCLOSURE_WORDS[String(details.disclosure)] ?? String(details.disclosure);
      return sentence(
        `Accept the ${product} risk disclosure first`,
        `Opening a position in ${product} needs the ${product} risk disclosure accepted.`,
      );
    }
    default:
      // The gate's own words (a margin check's, say): the label is the message without its full stop.
      return verdict.message === undefined
        ? undefined
        : { summary: verdict.message.replace(/\.$/, ''), message: verdict.message };
  }
}

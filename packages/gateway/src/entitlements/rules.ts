/**
 * @module entitlements/rules
 * Product and conduct rules per legal entity, as data (research/broker-sessions.md §4.2): each has a stable id, the
 * entities and client categories it applies to, `effectiveFrom`/`effectiveTo` dates, and a predicate over the
 * order it judges. The gate evaluates every rule in force on the order's date; the first that blocks decides, and
 * its id travels with the rejection so a person can look it up.
 */
import type { AssetClass, Instrument } from '../instruments/index.js';

export interface RuleSubject {
  entityCode: string;
  clientCategory: 'retail' | 'professional';
  accountType: 'cash' | 'margin' | 'portfolio_margin';
  /** Net liquidation value in USD. */
  netLiquidationUsd: number;
  instrument: Instrument;
  /** The order opens or increases exposure (a closing or reducing order is never blocked by product rules). */
  opening: boolean;
  side: 'BUY' | 'SELL';
  /** The order adds margin exposure (a short, a leveraged purchase, a futures position). */
  marginIncreasing: boolean;
}

export interface ProductRule {
  id: string;
  description: string;
  entities: readonly string[] | 'all';
  /** YYYY-MM-DD, inclusive; null when open-ended. */
  effectiveFrom: string | null;
  effectiveTo: string | null;
  /**
   * When the rule blocks the order: the error code, a short label in plain words (a badge before any order) and the
   * refusal's message, which starts with the label; undefined when it does not block.
   */
  blocks(subject: RuleSubject): RuleBlock | undefined;
}

export interface RuleBlock {
  code: RuleCode;
  summary: string;
  message: string;
}

/** A block whose message is its summary followed by `explanation`. */
const block = (code: RuleCode, summary: string, explanation?: string): RuleBlock => ({
  code,
  summary,
  message: explanation === undefined ? `${summary}.` : `${summary}. ${explanation}`,
});

/** Whom an entity's retail rule protects, in plain words. */
const retailOf = (entityCode: string) => (entityCode === 'IBUK' ? 'UK' : 'EU');

export type RuleCode = 'PRODUCT_NOT_ELIGIBLE' | 'MARGIN_NOT_ALLOWED';

/** Packaged products that need a PRIIPs KID for retail clients (a plain share does not). */
const PACKAGED: ReadonlySet<AssetClass> = new Set(['ETF', 'OPT', 'FUT']);

export const PRODUCT_RULES: readonly ProductRule[] = [
  {
    id: 'PRIIPS_KID',
    description:
      'EU/UK retail clients may not open positions in packaged products without a key information document (ibkr.info/node/2993, KB3324); closing is allowed.',
    entities: ['IBIE', 'IBCE', 'IBUK'],
    effectiveFrom: '2018-01-01',
    effectiveTo: null,
    blocks: (s) =>
      s.clientCategory === 'retail' && s.opening && PACKAGED.has(s.instrument.assetClass) && !s.instrument.kid
        ? block(
            'PRODUCT_NOT_ELIGIBLE',
            `Not available to ${retailOf(s.entityCode)} retail clients: no KID — closing only`,
            `${s.instrument.symbol} has no key information document (KID), which ${retailOf(s.entityCode)} retail clients need to buy it; selling what you hold is allowed.`,
          )
        : undefined,
  },
  {
    id: 'UK_CRYPTO_DERIV_RETAIL',
    description: 'The FCA bans the sale of crypto-asset derivatives to UK retail clients (FCA PS20/10).',
    entities: ['IBUK'],
    effectiveFrom: '2021-01-06',
    effectiveTo: null,
    blocks: (s) =>
      s.clientCategory === 'retail' && s.opening && s.instrument.future?.cryptoUnderlying === true
        ? block(
            'PRODUCT_NOT_ELIGIBLE',
            'Not available to UK retail clients: crypto derivative — closing only',
            `${s.instrument.symbol} is a crypto-asset derivative, which UK retail clients may not trade.`,
          )
        : undefined,
  },
  {
    id: 'CRYPTO_SPOT_AVAIL',
    description:
      'Spot crypto is offered by IBLLC, IBUK (since 2024) and IBHK (through OSL, since 2023) only.',
    entities: 'all',
    effectiveFrom: null,
    effectiveTo: null,
    blocks: (s) =>
      s.instrument.assetClass === 'CRYPTO' && s.opening && !['IBLLC', 'IBUK', 'IBHK'].includes(s.entityCode)
        ? block('PRODUCT_NOT_ELIGIBLE', `Spot crypto is not offered to clients of ${s.entityCode}`)
        : undefined,
  },
  {
    id: 'REG_T',
    description:
      'Reg T: a US margin account borrows only with at least USD 2,000 of equity; initial margin is 50 % (applied in buying power).',
    entities: ['IBLLC'],
    effectiveFrom: null,
    effectiveTo: null,
    blocks: (s) =>
      s.accountType === 'margin' && s.marginIncreasing && s.netLiquidationUsd < 2_000
        ? block(
            'MARGIN_NOT_ALLOWED',
            'Margin trades need USD 2,000 of equity',
            'Reg T: margin trades need at least USD 2,000 of equity in the account.',
          )
        : undefined,
  },
  {
    id: 'PORTFOLIO_MARGIN',
    description:
      'A portfolio-margin account needs USD 110k net liquidation to open; below USD 100k margin-increasing trades are restricted (IBKR glossary).',
    entities: ['IBLLC'],
    effectiveFrom: null,
    effectiveTo: null,
    blocks: (s) =>
      s.accountType === 'portfolio_margin' && s.marginIncreasing && s.netLiquidationUsd < 100_000
        ? block(
            'MARGIN_NOT_ALLOWED',
            'Margin-increasing trades restricted below USD 100,000',
            'Portfolio margin: net liquidation is below USD 100,000, so margin-increasing trades are restricted.',
          )
        : undefined,
  },
];

/** Whether a rule is in force on the date of `at` (UTC calendar date). */
export function inForce(rule: ProductRule, at: number): boolean {
  const day = new Date(at).toISOString().slice(0, 10);
  return (
    (rule.effectiveFrom === null || day >= rule.effectiveFrom) &&
    (rule.effectiveTo === null || day <= rule.effectiveTo)
  );
}

export function appliesTo(rule: ProductRule, entityCode: string): boolean {
  return rule.entities === 'all' || rule.entities.includes(entityCode);
}

/**
 * @module identity/entities
 * The legal entities that carry accounts. Seed data from `research/broker-sessions.md` §4.1 (IBKR entity table:
 * ibkr.info/node/1000, each entity's protection page, fscs.org.uk, ifec.org.hk). The region picks the daily reset.
 */
import type { Kysely } from 'kysely';
import type { Database, LegalEntitiesTable } from '../store/index.js';

export type Region = 'north_america' | 'europe' | 'asia_pacific';

export interface LegalEntity {
  code: string;
  legalName: string;
  regulator: string;
  typicalResidence: string;
  investorProtection: string;
  protectionLimit: string;
  notes: string;
  region: Region;
}

export const LEGAL_ENTITIES: readonly LegalEntity[] = [
  {
    code: 'IBLLC',
    legalName: 'Interactive Brokers LLC',
    regulator: 'SEC/FINRA/CFTC',
    typicalResidence: 'US + residents not served by another entity',
    investorProtection: "SIPC + Lloyd's excess",
    protectionLimit:
      "SIPC USD 500k (cash 250k); Lloyd's excess +USD 29.5M (cash 900k) to USD 30M total, aggregate cap USD 150M",
    notes: 'futures not SIPC-covered',
    region: 'north_america',
  },
  {
    code: 'IBCA',
    legalName: 'Interactive Brokers Canada Inc.',
    regulator: 'CIRO',
    typicalResidence: 'Canada',
    investorProtection: 'CIPF',
    protectionLimit: 'CAD 1M per separate account',
    notes: '4-level options scheme not offered',
    region: 'north_america',
  },
  {
    code: 'IBUK',
    legalName: 'Interactive Brokers (U.K.) Ltd',
    regulator: 'FCA (FRN 208159)',
    typicalResidence: 'United Kingdom',
    investorProtection: 'FSCS + CASS segregation',
    protectionLimit: 'GBP 85k per person per firm (failures after 2019-04-01)',
    notes: 'PRIIPs-equivalent KID rule; crypto derivatives banned for retail',
    region: 'europe',
  },
  {
    code: 'IBIE',
    legalName: 'Interactive Brokers Ireland Ltd',
    regulator: 'Central Bank of Ireland (MiFID II)',
    typicalResidence: 'EEA',
    investorProtection: 'Irish ICS',
    protectionLimit: '90% of loss up to EUR 20k; IBLLC-custodied securities also SIPC',
    notes: 'PRIIPs KID rule',
    region: 'europe',
  },
  {
    code: 'IBCE',
    legalName: 'Interactive Brokers Central Europe Zrt.',
    regulator: 'MNB (Hungary)',
    typicalResidence: 'certain EEA states',
    investorProtection: 'Hungarian IPF',
    protectionLimit: 'EUR 100k (100% to HUF 1M then 90%)',
    notes: 'merger into IBIE announced (target 2024)',
    region: 'europe',
  },
  {
    code: 'IBAU',
    legalName: 'Interactive Brokers Australia Pty Ltd',
    regulator: 'ASIC (AFSL 453554)',
    typicalResidence: 'Australia',
    investorProtection: 'client-money segregation; no scheme named in source',
    protectionLimit: 'n/a',
    notes: 'verify',
    region: 'asia_pacific',
  },
  {
    code: 'IBHK',
    legalName: 'Interactive Brokers Hong Kong Ltd',
    regulator: 'SFC',
    typicalResidence: 'Hong Kong',
    investorProtection: 'HK ICF (HKEX-traded + Northbound Connect)',
    protectionLimit:
      'HKD 500k per investor per default (since 2020-01-01); non-HK securities at IBLLC (SIPC)',
    notes: 'crypto via OSL since 2023',
    region: 'asia_pacific',
  },
  {
    code: 'IBSG',
    legalName: 'Interactive Brokers Singapore Pte Ltd',
    regulator: 'MAS',
    typicalResidence: 'Singapore',
    investorProtection: 'none found',
    protectionLimit: 'n/a',
    notes: 'verify',
    region: 'asia_pacific',
  },
  {
    code: 'IBSJ',
    legalName: 'Interactive Brokers Securities Japan Inc.',
    regulator: 'FSA / JSDA member',
    typicalResidence: 'Japan',
    investorProtection: 'Japan Investor Protection Fund',
    protectionLimit: 'JPY 10M per customer',
    notes: 'JASDEC registration needed for JP stocks/options; cash-account minimum age 20',
    region: 'asia_pacific',
  },
  {
    code: 'IBIN',
    legalName: 'Interactive Brokers India Pvt Ltd',
    regulator: 'SEBI',
    typicalResidence: 'India',
    investorProtection: 'verify',
    protectionLimit: 'verify',
    notes: '4-level options scheme not offered; non-residents reach Indian markets only as NRIs',
    region: 'asia_pacific',
  },
];

function toRow(e: LegalEntity): LegalEntitiesTable {
  return {
    code: e.code,
    legal_name: e.legalName,
    regulator: e.regulator,
    typical_residence: e.typicalResidence,
    investor_protection: e.investorProtection,
    protection_limit: e.protectionLimit,
    notes: e.notes,
    region: e.region,
  };
}

export function entityFromRow(r: LegalEntitiesTable): LegalEntity {
  return {
    code: r.code,
    legalName: r.legal_name,
    regulator: r.regulator,
    typicalResidence: r.typical_residence,
    investorProtection: r.investor_protection,
    protectionLimit: r.protection_limit,
    notes: r.notes,
    region: r.region as Region,
  };
}

/** Inserts or refreshes the seed entities; run at every start so seed corrections reach existing databases. */
export async function seedLegalEntities(db: Kysely<Database>): Promise<void> {
  for (const entity of LEGAL_ENTITIES) {
    const row = toRow(entity);
    const { code, ...rest } = row;
    await db
      .insertInto('legal_entities')
      .values(row)
      .onConflict((oc) => oc.column('code').doUpdateSet(rest))
      .execute();
  }
}

export async function listLegalEntities(db: Kysely<Database>): Promise<LegalEntity[]> {
  const rows = await db.selectFrom('legal_entities').selectAll().orderBy('code').execute();
  return rows.map(entityFromRow);
}

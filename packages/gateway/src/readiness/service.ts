/**
 * @module readiness/service
 * `GET /v1/readiness` in one place: every item's facts (readiness/facts.ts, the token service's refresh records,
 * the user's accounts and watchlist), judged by the rules (readiness/rules.ts), in the protocol's order. The
 * market-data item asks, per watchlist instrument, what the user's first trading account sees of it (its
 * subscriptions, `entitlementFor`) and what a one-lot market buy would meet there (`TradingService.preview`: the
 * whole pre-trade gate, nothing placed). The watchlist and the legal-entity review are here too.
 */
import type { AccessReadiness, EntityReview, ReadinessChannel, Watchlist } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { accountAccess, accountsFor } from '../access/index.js';
import { appendAudit } from '../audit/index.js';
import { type Clock, GatehouseError } from '../core/index.js';
import type { UserAccount } from '../identity/index.js';
import { findInstrument, type Instrument, MARKET_DATA_BUNDLES } from '../instruments/index.js';
import { entitlementFor } from '../marketdata/index.js';
import { clientRefreshesOfUser } from '../oauth/index.js';
import type { Principal, SessionRecord } from '../sessions/index.js';
import type { Database } from '../store/index.js';
import type { TradingService } from '../trading/index.js';
import { userFacts } from './facts.js';
import { loginPathOf } from './paths.js';
import {
  drillOf,
  ENTITY_REVIEW_VALID_MS,
  item,
  judgeApiClients,
  judgeBackup,
  judgeDevices,
  judgeLegalEntity,
  judgeMarketData,
  judgePush,
  judgeReauthentication,
  type MarketDataFacts,
  reauthChannels,
  SESSION_REFUSALS,
  worstState,
} from './rules.js';
import {
  addReauthSample,
  entityReviewsOf,
  replaceWatchlist,
  saveEntityReview,
  watchlistOf,
} from './store.js';

export interface ReadinessDeps {
  db: Kysely<Database>;
  clock: Clock;
  trading: TradingService;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The checklist for the principal's user, now. */
export async function readinessOf(deps: ReadinessDeps, principal: Principal): Promise<AccessReadiness> {
  const { db, clock } = deps;
  const now = clock.now();
  const userId = principal.profile.user.id;
  const facts = await userFacts(db, userId, now);
  const clients = await clientRefreshesOfUser(db, userId);
  const reviews = await entityReviewsOf(db, userId);
  const market = await marketDataFacts(deps, principal);
  const entities = {
    accounts: accountsFor(principal, 'view').map((a) => {
      const review = reviews.find((r) => r.accountId === a.id && r.entityCode === a.entity.code);
      return {
        accountId: a.id,
        entity: a.entity.code,
        entityName: a.entity.legalName,
        regulator: a.entity.regulator,
        protection: `${a.entity.investorProtection}: ${a.entity.protectionLimit}`,
        reviewedAt: review?.reviewedAt ?? null,
      };
    }),
  };
  const items = [
    item('push', judgePush(facts.push, now), {
      devices: facts.push.devices.map((d) => ({ ...d, lastSeenAt: iso(d.lastSeenAt) })),
    }),
    item('backup', judgeBackup(facts.backup), facts.backup),
    item('devices', judgeDevices(facts.devices), facts.devices),
    item('market_data', judgeMarketData(market), {
      instruments: market.instruments.map(({ bundleName: _n, ...i }) => i),
    }),
    item('api_clients', judgeApiClients(clients, now), {
      clients: clients.map((c) => {
        const drill = drillOf(c);
        return {
          clientId: c.clientId,
          name: c.name,
          lastRefreshAt: iso(c.lastRefreshAt),
          lastDrillAt: iso(drill.lastDrillAt),
          drillPassed: drill.drillPassed,
        };
      }),
    }),
    item('legal_entity', judgeLegalEntity(entities, now), {
      accounts: entities.accounts.map(({ reviewedAt, ...a }) => ({
        ...a,
        reviewedAt: iso(reviewedAt),
        reviewExpiresAt: iso(reviewedAt === null ? null : reviewedAt + ENTITY_REVIEW_VALID_MS),
      })),
    }),
    item('reauthentication', judgeReauthentication(facts.reauthentication), {
      channels: reauthChannels(facts.reauthentication).map(({ oneStep: _o, ...c }) => c),
    }),
  ];
  return { checkedAt: new Date(now).toISOString(), state: worstState(items.map((i) => i.state)), items };
}

/** The account the market-data item looks through: the user's first trading account, else the first they may view. */
function marketAccount(principal: Principal): UserAccount | undefined {
  return accountsFor(principal, 'trade')[0] ?? accountsFor(principal, 'view')[0];
}

async function marketDataFacts(deps: ReadinessDeps, principal: Principal): Promise<MarketDataFacts> {
  const ids = await watchlistOf(deps.db, principal.profile.user.id);
  const instruments = ids.map(findInstrument).filter((i): i is Instrument => i !== undefined);
  const account = marketAccount(principal);
  const subscriptions =
    account === undefined
      ? new Map()
      : (await deps.trading.marketDataView(principal, account.id)).subscriptions;
  const canTrade = account !== undefined && accountsFor(principal, 'trade').some((a) => a.id === account.id);
  const out: MarketDataFacts['instruments'] = [];
  for (const instrument of instruments) {
    const entitlement = entitlementFor(instrument, subscriptions);
    out.push({
      instrumentId: instrument.id,
      symbol: instrument.symbol,
      data: entitlement.type,
      bundle: entitlement.type === 'live' ? null : entitlement.bundle,
      bundleName: entitlement.type === 'live' ? null : MARKET_DATA_BUNDLES[entitlement.bundle].name,
      whatIf:
        account === undefined
          ? { outcome: 'refused', reason: 'ACCOUNT_NOT_FOUND' }
          : canTrade
            ? await whatIf(deps, principal, account.id, instrument)
            : { outcome: 'refused', reason: 'ROLE_NOT_ALLOWED' },
    });
  }
  return { instruments: out };
}

/** What a one-lot market buy of `instrument` would meet on the account: the gate's verdict, nothing placed. */
async function whatIf(
  deps: ReadinessDeps,
  principal: Principal,
  accountId: string,
  instrument: Instrument,
): Promise<MarketDataFacts['instruments'][number]['whatIf']> {
  try {
    const { verdict } = await deps.trading.preview(principal, accountId, {
      clientOrderId: 'readiness-what-if',
      instrumentId: instrument.id,
      side: 'BUY',
      type: 'MKT',
      quantity: instrument.lotSize,
      tif: 'DAY',
    });
    if (verdict.outcome === 'accept') return { outcome: 'accepted', reason: null };
    if (verdict.outcome === 'confirm')
      return { outcome: 'confirmation_required', reason: verdict.questions[0]?.id ?? null };
    if (SESSION_REFUSALS.has(verdict.code))
      return await apartFromSession(deps, principal, accountId, instrument);
    return { outcome: 'refused', reason: verdict.code };
  } catch (error) {
    // An order the gate refuses before its checks (its shape, a halted desk) is refused all the same.
    if (error instanceof GatehouseError) return { outcome: 'refused', reason: error.code };
    throw error;
  }
}

/**
 * What the buy would meet apart from the asking session, which does not hold trading now (the checklist is read
 * right after login, before trading is taken): the gate's account and product checks on the same one-lot buy
 * (`TradingService.availability`), then its market-data question (trading/gate.ts asks `no_market_data` or
 * `delayed_market_data` without live data). Buying power is judged only with the session's own what-if.
 */
async function apartFromSession(
  deps: ReadinessDeps,
  principal: Principal,
  accountId: string,
  instrument: Instrument,
): Promise<MarketDataFacts['instruments'][number]['whatIf']> {
  const availability = await deps.trading.availability(principal, accountId, instrument.id);
  if (!availability.open.allowed)
    return { outcome: 'refused', reason: availability.open.restriction?.code ?? 'PRODUCT_NOT_ELIGIBLE' };
  if (availability.marketData.type !== 'live')
    return {
      outcome: 'confirmation_required',
      reason: availability.marketData.type === 'none' ? 'no_market_data' : 'delayed_market_data',
    };
  return { outcome: 'accepted', reason: null };
}

// ---- the watchlist ---------------------------------------------------------------------------------------------

function presentWatchlist(ids: readonly number[]): Watchlist {
  return {
    instruments: ids
      .map(findInstrument)
      .filter((i): i is Instrument => i !== undefined)
      .map((i) => ({ instrumentId: i.id, symbol: i.symbol, name: i.name })),
  };
}

export async function getWatchlist(db: Kysely<Database>, principal: Principal): Promise<Watchlist> {
  return presentWatchlist(await watchlistOf(db, principal.profile.user.id));
}

/**
 * Replaces the user's watchlist. Every id must be in the catalogue (`INSTRUMENT_NOT_FOUND` naming the first that is
 * not, and nothing stored); duplicates and more than 50 are refused by the request's schema before this.
 */
export async function setWatchlist(
  db: Kysely<Database>,
  principal: Principal,
  instrumentIds: readonly number[],
): Promise<Watchlist> {
  const unknown = instrumentIds.find((id) => findInstrument(id) === undefined);
  if (unknown !== undefined)
    throw new GatehouseError('INSTRUMENT_NOT_FOUND', undefined, { instrumentId: unknown });
  await replaceWatchlist(db, principal.profile.user.id, instrumentIds);
  return presentWatchlist(instrumentIds);
}

// ---- the legal-entity review -----------------------------------------------------------------------------------

/**
 * The user acknowledges they reviewed the account's legal entity, regulator and protection. A review is the user's
 * own statement about what they read, not a change to the account: the `view` need (a viewer reviews too; another
 * user's account is `ACCOUNT_NOT_FOUND`, decided by the access policy). Audited; it stands a year.
 */
export async function reviewEntity(
  deps: { db: Kysely<Database>; clock: Clock },
  principal: Principal,
  accountId: string,
): Promise<EntityReview> {
  const account = accountAccess(principal, accountId, 'view');
  const now = deps.clock.now();
  const userId = principal.profile.user.id;
  await deps.db.transaction().execute(async (trx) => {
    await saveEntityReview(trx, {
      userId,
      accountId: account.id,
      entityCode: account.entity.code,
      reviewedAt: now,
    });
    await appendAudit(trx, deps.clock, {
      type: 'readiness.entity_reviewed',
      userId,
      sessionId: principal.session.id,
      data: { accountId: account.id, entity: account.entity.code },
    });
  });
  return {
    accountId: account.id,
    reviewedAt: new Date(now).toISOString(),
    reviewExpiresAt: new Date(now + ENTITY_REVIEW_VALID_MS).toISOString(),
  };
}

// ---- re-authentication samples ---------------------------------------------------------------------------------

/** Records one re-authentication of the user's (where the server metric is observed: app/gateway.ts). */
export async function recordReauthentication(
  deps: { db: Kysely<Database>; clock: Clock },
  session: SessionRecord,
  ms: number,
): Promise<void> {
  const channel: ReadinessChannel | null =
    session.channel === 'web' || session.channel === 'desktop' || session.channel === 'mobile'
      ? session.channel
      : null;
  if (channel === null) return;
  await addReauthSample(deps.db, {
    userId: session.userId,
    channel,
    ms,
    at: deps.clock.now(),
    path: loginPathOf(session),
  });
}

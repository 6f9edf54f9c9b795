/**
 * What the Sandbox page offers for each fault kind of the catalogue: its words, the family it is grouped under, the
 * one of the person's own targets it is injected on (this session, themselves, or the chosen account: where the
 * failure strikes), the few parameters a person picks, and the request it makes.
 */
import {
  FAULT_CATALOGUE,
  FAULT_KINDS,
  type Fault,
  type FaultFamily,
  type FaultKind,
  type FaultRequest,
} from '@gatehouse/protocol';

/** Which of the person's own targets a button injects on. */
export type OwnTarget = 'session' | 'user' | 'account';

/** A choice a kind needs: a fixed list, or the chosen account's market-data bundles or trading permissions. */
export interface ParamChoice {
  name: string;
  label: string;
  options: readonly { value: string; label: string }[] | 'bundles' | 'permissions';
}

export interface KindOffer {
  kind: FaultKind;
  family: FaultFamily;
  label: string;
  target: OwnTarget;
  params: readonly ParamChoice[];
}

const seconds = (list: number[]) => list.map((s) => ({ value: String(s * 1000), label: `${s} s` }));

const DELAY: ParamChoice = { name: 'delayMs', label: 'Delay', options: seconds([5, 20, 60, 120]) };

/** The kinds' words and targets. Factors strike at the next login (no session yet): on the person themselves. */
const OFFERS: Record<FaultKind, Omit<KindOffer, 'kind' | 'family'>> = {
  'push.not_delivered': { label: 'Push not delivered', target: 'user', params: [] },
  'push.late': { label: 'Push delivered late', target: 'user', params: [DELAY] },
  'push.auto_denied': { label: 'Push denied', target: 'user', params: [] },
  'sms.late': { label: 'Text message late', target: 'user', params: [DELAY] },
  'sms.lost': { label: 'Text message lost', target: 'user', params: [] },
  'webauthn.missing': { label: 'Security key missing', target: 'user', params: [] },
  'session.idle_expiry': { label: 'Idle expiry now', target: 'session', params: [] },
  'session.absolute_expiry': { label: 'Session lifetime ends now', target: 'session', params: [] },
  'token.expired_early': { label: 'Access tokens expire early', target: 'user', params: [] },
  'token.revoked': { label: 'Access tokens revoked', target: 'user', params: [] },
  'refresh.refused': { label: 'Token refresh refused (5xx)', target: 'user', params: [] },
  'refresh.timeout': { label: 'Token refresh times out', target: 'user', params: [] },
  'refresh.response_lost': { label: 'Token refresh response lost', target: 'user', params: [] },
  'login.competing': { label: 'Competing login from the phone', target: 'session', params: [] },
  'network.changed': { label: 'Network change', target: 'session', params: [] },
  'device.revoked': { label: 'Device revoked', target: 'session', params: [] },
  'reset.daily': { label: 'Daily reset now', target: 'user', params: [] },
  maintenance: {
    label: 'Maintenance window',
    target: 'session',
    params: [
      {
        name: 'retryAfterS',
        label: 'Retry after',
        options: [10, 30, 60].map(String).map((s) => ({ value: s, label: `${s} s` })),
      },
    ],
  },
  'marketdata.revoked': {
    label: 'Market data revoked',
    target: 'account',
    params: [{ name: 'bundle', label: 'Bundle', options: 'bundles' }],
  },
  'permission.removed': {
    label: 'Trading permission removed',
    target: 'account',
    params: [{ name: 'permission', label: 'Permission', options: 'permissions' }],
  },
  'options_level.lowered': {
    label: 'Options level lowered',
    target: 'account',
    params: [
      {
        name: 'level',
        label: 'Level',
        options: [0, 1, 2, 3].map((l) => ({ value: String(l), label: `Level ${l}` })),
      },
    ],
  },
  'account.closing_only': { label: 'Closing only', target: 'account', params: [] },
  'account.frozen': { label: 'Account frozen', target: 'account', params: [] },
  'http.latency': {
    label: 'Added latency',
    target: 'session',
    params: [
      {
        name: 'ms',
        label: 'Latency',
        options: [250, 1000, 3000].map((ms) => ({ value: String(ms), label: `${ms} ms` })),
      },
    ],
  },
  'http.error': {
    label: 'Server errors',
    target: 'session',
    params: [
      {
        name: 'status',
        label: 'Status',
        options: ['503', '500', '502', '429'].map((s) => ({ value: s, label: s })),
      },
      {
        name: 'rate',
        label: 'Rate',
        options: ['0.5', '1', '0.1'].map((r) => ({ value: r, label: `${Number(r) * 100} %` })),
      },
    ],
  },
  'http.pacing': {
    label: 'Pacing limit (429)',
    target: 'session',
    params: [
      {
        name: 'perSecond',
        label: 'Requests per second',
        options: [1, 5, 10].map((n) => ({ value: String(n), label: `${n}/s` })),
      },
    ],
  },
  'stream.dropped': { label: 'Stream dropped', target: 'session', params: [] },
  'stream.stalled': { label: 'Stream stalled (no heartbeat)', target: 'session', params: [] },
  'stream.events_withheld': { label: 'Live events withheld', target: 'session', params: [] },
  'order.confirmation_expires': { label: 'Confirmation expires at once', target: 'account', params: [] },
  'order.response_lost': { label: 'Order response lost', target: 'account', params: [] },
  'order.fill_delayed': { label: 'Fill delayed', target: 'account', params: [DELAY] },
  'order.partial_fill': { label: 'Partial fill', target: 'account', params: [] },
  'order.rejected': { label: 'Engine rejects orders', target: 'account', params: [] },
};

export const FAMILIES: readonly { family: FaultFamily; title: string }[] = [
  { family: 'sessions', title: 'Sessions' },
  { family: 'factors', title: 'Second factors (next login)' },
  { family: 'entitlements', title: 'Entitlements' },
  { family: 'transport', title: 'Transport' },
  { family: 'orders', title: 'Orders' },
];

/** Every kind of the catalogue, grouped by family in the order of `FAMILIES`. */
export function offersByFamily(): { family: FaultFamily; title: string; offers: KindOffer[] }[] {
  return FAMILIES.map(({ family, title }) => ({
    family,
    title,
    offers: FAULT_KINDS.filter((kind) => FAULT_CATALOGUE[kind].family === family).map((kind) => ({
      kind,
      family,
      ...OFFERS[kind],
    })),
  }));
}

export function offerOf(kind: FaultKind): KindOffer {
  return { kind, family: FAULT_CATALOGUE[kind].family, ...OFFERS[kind] };
}

/** Who the page's person is, and the account they chose. */
export interface Own {
  userId: string;
  sessionId: string;
  accountId: string | null;
}

/**
 * The request a button makes: the kind on the person's own target, its picked parameters as the catalogue takes
 * them (numbers as numbers; a permission `STK:US` as its asset class and region), and for a condition the chosen
 * duration (none: until cleared). Null when the kind needs an account and none is chosen.
 */
export function faultRequest(
  offer: KindOffer,
  own: Own,
  values: Readonly<Record<string, string>>,
  durationMs: number | null,
): FaultRequest | null {
  const id =
    offer.target === 'session' ? own.sessionId : offer.target === 'user' ? own.userId : own.accountId;
  if (id === null) return null;
  const params: Record<string, unknown> = {};
  for (const choice of offer.params) {
    const value = values[choice.name] ?? firstValue(choice);
    if (value === undefined || value === '') continue;
    if (choice.name === 'permission') {
      const [assetClass, region] = value.split(':');
      params.assetClass = assetClass;
      if (region !== undefined && region !== '') params.region = region;
    } else if (choice.name === 'bundle') params.bundle = value;
    else params[choice.name] = Number(value);
  }
  const condition = FAULT_CATALOGUE[offer.kind].mode === 'condition';
  return {
    kind: offer.kind,
    target: { type: offer.target, id },
    params,
    ...(condition && durationMs !== null ? { schedule: { durationMs } } : {}),
  };
}

function firstValue(choice: ParamChoice): string | undefined {
  return typeof choice.options === 'string' ? undefined : choice.options[0]?.value;
}

/** A fault's target in the person's words: this session, you, an account. */
export function describeTarget(target: Fault['target'], own: Own): string {
  if (target.type === 'session') return target.id === own.sessionId ? 'This session' : `Session ${target.id}`;
  if (target.type === 'user') return target.id === own.userId ? 'You' : `User ${target.id}`;
  if (target.type === 'all') return 'Everyone';
  return `${target.type[0]?.toUpperCase()}${target.type.slice(1)} ${target.id ?? ''}`;
}

/** The label of a kind; the code itself for a kind this portal does not know yet. */
export function kindLabel(kind: string): string {
  return (OFFERS as Record<string, { label: string } | undefined>)[kind]?.label ?? kind;
}

/** A fault can be cleared while it is scheduled or active. */
export function clearable(fault: Pick<Fault, 'state'>): boolean {
  return fault.state === 'scheduled' || fault.state === 'active';
}

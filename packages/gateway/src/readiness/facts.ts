/**
 * @module readiness/facts
 * What the checklist's rules judge, read from the store for one user: push devices, the ways to complete a login
 * and the recovery codes left, the channels traded from and their pre-validated devices, the user's re-authentication
 * samples. Reads only; each item's facts in one function.
 */
import type { ReadinessChannel } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import type { BackupFacts, DevicesFacts, PushFacts, ReauthFacts } from './rules.js';
import { CHANNEL_USED_WITHIN_MS } from './rules.js';
import { reauthSamplesOf } from './store.js';

type Db = Kysely<Database>;

async function activeDevices(db: Db, userId: string) {
  return db
    .selectFrom('devices')
    .select(['id', 'kind', 'name', 'pin_hash', 'login_disabled', 'trusted', 'last_seen_at'])
    .where('user_id', '=', userId)
    .where('status', '=', 'active')
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}
type DeviceRow = Awaited<ReturnType<typeof activeDevices>>[number];

/** An enrolled phone that approves pushes: a mobile device not locked by PIN failures. */
const pushes = (d: DeviceRow) => d.kind === 'mobile' && d.login_disabled === 0;

/** The pre-validated device of each channel: a remembered (trusted) browser, a workstation key, a phone with a PIN. */
const VALIDATED: Record<ReadinessChannel, (d: DeviceRow) => boolean> = {
  web: (d) => d.kind === 'browser' && d.trusted === 1,
  desktop: (d) => d.kind === 'desktop',
  mobile: (d) => d.kind === 'mobile' && d.pin_hash !== null && d.login_disabled === 0,
};

export interface UserFacts {
  push: PushFacts;
  backup: BackupFacts;
  devices: DevicesFacts;
  reauthentication: ReauthFacts;
}

export async function userFacts(db: Db, userId: string, now: number): Promise<UserFacts> {
  const devices = await activeDevices(db, userId);
  const factors = await db
    .selectFrom('second_factors')
    .select(['type', 'label'])
    .where('user_id', '=', userId)
    .where('status', '=', 'active')
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const codes = await db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  const traded = await db
    .selectFrom('sessions')
    .select('channel')
    .distinct()
    .where('user_id', '=', userId)
    .where('brokerage_at', '>=', now - CHANNEL_USED_WITHIN_MS)
    .execute();
  const usedChannels = new Set(traded.map((r) => r.channel));
  const channels = (['web', 'desktop', 'mobile'] as const).map((channel) => {
    const device = devices.find(VALIDATED[channel]);
    return {
      channel,
      used: usedChannels.has(channel),
      device: device === undefined ? null : { id: device.id, name: device.name },
    };
  });
  const ways = [
    ...factors.map((f) => (f.type === 'webauthn' ? `webauthn:${f.label}` : f.type)),
    ...devices.filter(pushes).map((d) => `push:${d.name}`),
  ];
  const samples = await reauthSamplesOf(db, userId);
  return {
    push: {
      devices: devices.filter(pushes).map((d) => ({
        id: d.id,
        name: d.name,
        lastSeenAt: d.last_seen_at === null ? null : Number(d.last_seen_at),
      })),
    },
    backup: { ways, recoveryCodesLeft: Number(codes?.n ?? 0) },
    devices: { channels },
    reauthentication: {
      samples: samples
        .filter((s): s is typeof s & { channel: ReadinessChannel } =>
          ['web', 'desktop', 'mobile'].includes(s.channel),
        )
        .map((s) => ({ channel: s.channel, ms: s.ms, at: s.at, path: s.path })),
    },
  };
}

/** @module factors/presenter — wire forms of factor listings and SMS sends. */
import type { FactorView, SmsSentView } from '@gatehouse/protocol';
import type { FactorSummary } from './registry.js';
import type { SmsSent } from './sms.js';

const iso = (ms: number) => new Date(ms).toISOString();

export function presentSmsSent(sent: SmsSent): SmsSentView {
  return {
    status: 'sms_sent',
    expiresAt: iso(sent.expiresAt),
    resendAvailableAt: iso(sent.resendAvailableAt),
    remainingThisHour: sent.remainingThisHour,
  };
}

export function presentFactor(f: FactorSummary): FactorView {
  return {
    id: f.id,
    type: f.type,
    label: f.label,
    status: f.status,
    createdAt: iso(f.createdAt),
    lastUsedAt: f.lastUsedAt === null ? null : iso(f.lastUsedAt),
    ...(f.phone === undefined ? {} : { phone: f.phone }),
    ...(f.hardwareBound === undefined ? {} : { hardwareBound: f.hardwareBound }),
  };
}

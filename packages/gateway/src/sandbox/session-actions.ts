/**
 * @module sandbox/session-actions
 * The sessions family's actions (expiry, token expiry and revocation, a competing login, a network change, a
 * revoked device, the daily reset), done through the session service, the brokerage tier and the token service.
 */
import type { Kysely } from 'kysely';
import type { Clock, EventBus } from '../core/index.js';
import type { OAuthService } from '../oauth/index.js';
import type { BrokerageTier, SessionService } from '../sessions/index.js';
import type { Database } from '../store/index.js';
import type { ActionHandlers } from './actions.js';

export interface SessionActionParts {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
  sessions: SessionService;
  brokerage: BrokerageTier;
  oauth: OAuthService;
}

type SessionActionKind =
  | 'session.idle_expiry'
  | 'session.absolute_expiry'
  | 'token.expired_early'
  | 'token.revoked'
  | 'login.competing'
  | 'network.changed'
  | 'device.revoked'
  | 'reset.daily';

export function sessionActions(_parts: SessionActionParts): Pick<ActionHandlers, SessionActionKind> {
  const pending = async (): Promise<number> => {
    throw new Error('session actions are being built');
  };
  return {
    'session.idle_expiry': pending,
    'session.absolute_expiry': pending,
    'token.expired_early': pending,
    'token.revoked': pending,
    'login.competing': pending,
    'network.changed': pending,
    'device.revoked': pending,
    'reset.daily': pending,
  };
}

/**
 * @module sandbox/stream-actions
 * The transport family's action: dropping the streams of a target, as a network would.
 */
import type { EventBus } from '../core/index.js';
import type { ActionHandlers } from './actions.js';

export interface StreamActionParts {
  bus: EventBus;
}

export function streamActions(_parts: StreamActionParts): Pick<ActionHandlers, 'stream.dropped'> {
  return {
    'stream.dropped': async () => {
      throw new Error('stream actions are being built');
    },
  };
}

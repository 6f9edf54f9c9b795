/**
 * @module sandbox/stream-actions
 * The transport family's action: dropping the `/v1/stream` sockets of a target, as a network would. The sockets
 * live on whichever node the client reached, so the drop goes out on the bus (`stream.dropped`) and each node's
 * stream hub cuts its own matching sockets without a close frame (ws/stream-hub.ts): the client sees an abnormal
 * close (1006) and resumes with `resumeAfter`, as after a real cut.
 */
import type { EventBus } from '../core/index.js';
import type { ActionHandlers } from './actions.js';

export interface StreamActionParts {
  bus: EventBus;
}

export function streamActions(parts: StreamActionParts): Pick<ActionHandlers, 'stream.dropped'> {
  return {
    // One hit: the drop sent to every node (each cuts the target's sockets it holds, however many).
    'stream.dropped': async (fault) => {
      await parts.bus.publish('stream.dropped', { faultId: fault.id, target: fault.target });
      return 1;
    },
  };
}

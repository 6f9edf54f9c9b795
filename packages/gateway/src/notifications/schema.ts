/**
 * @module notifications/schema
 * The notification routes as the API reference describes them: the protocol's schemas each answers with.
 */
import {
  notificationListSchema,
  securityEventListSchema,
  securityEventsQuerySchema,
  smsOutboxSchema,
} from '@gatehouse/protocol';
import { operation } from '../http/index.js';

const tag = 'notifications';

export const notificationOperations = {
  notifications: operation({
    tag,
    summary: 'My security notifications',
    description: 'What the user was told: a new device, a factor added or removed, a password changed, …',
    responses: { 200: notificationListSchema },
  }),
  securityEvents: operation({
    tag,
    summary: 'My recent security events',
    description:
      'The audit records about the user, newest first, a page at a time: `limit` (default 50, at most 100) and `before` (the previous page’s `nextBefore`). The audit log never holds a secret.',
    query: securityEventsQuerySchema,
    responses: { 200: securityEventListSchema },
  }),
  smsOutbox: operation({
    tag,
    summary: 'What the SMS simulator “sent” (development)',
    description: 'Anyone may read it: a development instance’s demo tool, never on in production.',
    servedWhen: '`development.exposeOutboxes` is on (as under `gatehouse serve --demo`)',
    responses: { 200: smsOutboxSchema },
  }),
};

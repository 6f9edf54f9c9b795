/**
 * @module identity/schema
 * The operators' account-role routes as the API reference describes them. The role names are the identity
 * capability's own (`ACCOUNT_ROLES`); the answer is the protocol's.
 */
import { accountIdSchema, roleChangedSchema } from '@gatehouse/protocol';
import { z } from 'zod';
import { operation } from '../http/index.js';
import { ACCOUNT_ROLES } from './accounts.js';

const tag = 'admin';
const servedWhen = '`secrets.adminApiToken` is set';
const params = z.strictObject({ accountId: accountIdSchema, username: z.string().min(1).max(64) });

export const accountRoleOperations = {
  give: operation({
    tag,
    summary: 'Give a user a role on an account',
    description:
      'Replaces any earlier role of the user there. Audited; the user’s open streams follow at once.',
    servedWhen,
    params,
    body: z.strictObject({ role: z.enum(ACCOUNT_ROLES) }),
    responses: { 200: roleChangedSchema },
  }),
  take: operation({
    tag,
    summary: 'Take a user’s role on an account away',
    description: 'The last owner of an account stays (`LAST_OWNER`). Audited.',
    servedWhen,
    params,
    responses: { 200: roleChangedSchema },
  }),
};

/**
 * @module factors/test-push
 * A push that logs nobody in, sent from the Security page to a phone just activated, so the person sees the phone
 * receive and answer one (issue 20: "Pixel activated ✓" with a test push).
 */
import type { Kysely } from 'kysely';
import { type Clock, GatehouseError } from '../core/index.js';
import { lockUser } from '../identity/index.js';
import type { Database } from '../store/index.js';
import { createPushChallenge, type PushContext, type PushMessage, type PushState } from './push.js';

/** Test pushes a user may send in `TEST_PUSH_WINDOW_MS`. */
const TEST_PUSHES_PER_WINDOW = 3;
const TEST_PUSH_WINDOW_MS = 10 * 60_000;

/**
 * A push that logs nobody in (`purpose: "test"`), from the Security page to a phone just activated: the same
 * prompt, number and decision as a login's, so the person sees the phone receive and answer one. At most three in
 * ten minutes per user (`PUSH_LIMIT_REACHED`), so it cannot be used to bomb a phone either.
 */
export async function createTestPush(
  db: Kysely<Database>,
  clock: Clock,
  input: { userId: string; context: PushContext; ttlMs: number },
): Promise<PushMessage & { state: PushState }> {
  // The count and the insert in one transaction under the user's row lock: parallel requests are taken one after
  // the other, so no more than the limit get through (a limit is reserved before it is used).
  return db.transaction().execute(async (trx) => {
    await lockUser(trx, input.userId);
    const now = clock.now();
    const recent = await trx
      .selectFrom('push_challenges')
      .select(['created_at'])
      .where('user_id', '=', input.userId)
      .where('login_id', 'is', null)
      .where('created_at', '>', now - TEST_PUSH_WINDOW_MS)
      .orderBy('created_at', 'asc')
      .execute();
    if (recent.length >= TEST_PUSHES_PER_WINDOW) {
      const oldest = recent[0]?.created_at ?? now;
      throw new GatehouseError('PUSH_LIMIT_REACHED', undefined, {
        retryAfterMs: oldest + TEST_PUSH_WINDOW_MS - now,
      });
    }
    return createPushChallenge(trx, clock, { ...input, loginId: null });
  });
}

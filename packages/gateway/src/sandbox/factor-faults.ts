/**
 * @module sandbox/factor-faults
 * The factors family of faults, acting where the real failures strike: between the login and the push transport,
 * and between the code sender and the SMS carrier. `FactorFaults` wraps the gateway's `PushTransport` and
 * `SmsSender` (app/gateway.ts wraps them only when the sandbox is on, so a gateway without it pays nothing); while
 * no fault is armed, every message goes straight through. A push or text is the fault's subject by its user (a
 * push's user is its challenge's; a step-up's text also names the session).
 *
 * - `push.not_delivered`: the transport accepts the request and nothing reaches the device, as when a phone is off
 *   or the notification service drops it. No receipt comes, so after `push.deliveryTimeoutMs` the waiting login is
 *   offered its other factors (login/push-login.ts), and the challenge expires unanswered.
 * - `push.late` {delayMs}: the request reaches the device streams `delayMs` later (a real timer, cancelled when the
 *   gateway closes). A request that arrives after its challenge expired is stale on the phone: its receipt and
 *   decision are refused as for any expired challenge.
 * - `push.auto_denied`: the person holding the phone denies it (`denyPushOnDevice` in factors/push.ts, on the first
 *   of the user's devices): the challenge is denied, audited `push.denied`, the user notified and the login woken,
 *   which then fails with `PUSH_DENIED` exactly as after a tap on Deny. The request does not reach the device
 *   streams, so nothing else can answer it; with `push.late` too, the denial comes after the delay.
 * - `sms.lost`: the carrier accepts the text and never delivers it (the sender reports success, no outbox row): the
 *   code exists but no one can read it; a resend within the limits of factors/sms.ts is the way out.
 * - `sms.late` {delayMs}: the text is delivered `delayMs` later (the outbox row appears then).
 *
 * `webauthn.missing` acts in the ceremony itself (factors/webauthn.ts): a key that is not there never answers.
 *
 * Semantic faults at named points rather than on the wire: ../shared/research/faults-and-cluster.md §"Gatehouse"
 * (push lost, token expiry, …). A missed 2FA prompt is what broker tooling has to survive (IBC's `on2fatimeout`,
 * ../shared/research/broker-sessions.md).
 */
import type { FaultParams } from '@gatehouse/protocol';
import type { FaultKind, FaultProbe, FaultSubject } from '../core/index.js';
import type { SmsRecipient, SmsSender } from '../factors/index.js';
import {
  denyPushOnDevice,
  type PushDenialDeps,
  type PushMessage,
  type PushTransport,
} from '../factors/push.js';

/** The probe, and what a denial needs (the store, the user told of it, the login woken by it, as after a device's own). */
export interface FactorFaultParts extends PushDenialDeps {
  faults: FaultProbe;
  /** A late delivery or an automatic denial that failed (nothing waits for them to report to). */
  onError(error: unknown, kind: FaultKind): void;
}

export class FactorFaults {
  readonly #parts: FactorFaultParts;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #running = new Set<Promise<void>>();
  #closed = false;

  constructor(parts: FactorFaultParts) {
    this.#parts = parts;
  }

  /** `inner` under the push faults. */
  push(inner: PushTransport): PushTransport {
    return { deliver: (deviceIds, message) => this.#deliver(inner, deviceIds, message) };
  }

  /** `inner` under the SMS faults. A text sent without its recipient (no caller in the gateway) goes through. */
  sms(inner: SmsSender): SmsSender {
    return { send: (to, body, recipient) => this.#send(inner, to, body, recipient) };
  }

  /** Cancels the deliveries still held back, and waits for those under way. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await Promise.allSettled([...this.#running]);
  }

  async #deliver(inner: PushTransport, deviceIds: readonly string[], message: PushMessage): Promise<void> {
    const { faults } = this.#parts;
    if (!faults.armed) return inner.deliver(deviceIds, message);
    const subject = await this.#pushSubject(message.challengeId);
    if (subject === undefined) return inner.deliver(deviceIds, message);
    if (faults.take('push.not_delivered', subject) !== undefined) return;
    const late = faults.take('push.late', subject);
    const denial = faults.take('push.auto_denied', subject);
    const deviceId = deviceIds[0];
    const arrive =
      denial === undefined || deviceId === undefined
        ? () => inner.deliver(deviceIds, message)
        : () =>
            this.#report('push.auto_denied', async () => {
              await denyPushOnDevice(
                this.#parts,
                { deviceId, challengeId: message.challengeId },
                { sandboxFault: denial.id },
              );
            });
    if (late === undefined) return arrive();
    this.#later((late.params as FaultParams<'push.late'>).delayMs, 'push.late', arrive);
  }

  async #send(inner: SmsSender, to: string, body: string, recipient?: SmsRecipient): Promise<void> {
    const { faults } = this.#parts;
    if (!faults.armed || recipient === undefined) return inner.send(to, body, recipient);
    const subject: FaultSubject = { userId: recipient.userId, sessionId: recipient.sessionId };
    if (faults.take('sms.lost', subject) !== undefined) return;
    const late = faults.take('sms.late', subject);
    if (late === undefined) return inner.send(to, body, recipient);
    this.#later((late.params as FaultParams<'sms.late'>).delayMs, 'sms.late', () =>
      inner.send(to, body, recipient),
    );
  }

  /** A push's user, from its challenge (the transport's message names only the challenge). */
  async #pushSubject(challengeId: string): Promise<FaultSubject | undefined> {
    const row = await this.#parts.db
      .selectFrom('push_challenges')
      .select('user_id')
      .where('id', '=', challengeId)
      .executeTakeFirst();
    return row === undefined ? undefined : { userId: row.user_id };
  }

  /** Runs `work` after `ms` of real time; the gateway's close cancels it. */
  #later(ms: number, kind: FaultKind, work: () => Promise<void>): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#report(kind, work);
    }, ms);
    timer.unref();
    this.#timers.add(timer);
  }

  /** Runs `work`, reporting a failure instead of throwing it (no request is waiting for it). */
  async #report(kind: FaultKind, work: () => Promise<void>): Promise<void> {
    const run = work().catch((error: unknown) => this.#parts.onError(error, kind));
    this.#running.add(run);
    try {
      await run;
    } finally {
      this.#running.delete(run);
    }
  }
}

/**
 * What the ticket's order would do, shown live as the ticket changes (`POST …/orders/what-if`): that it would be
 * accepted, with its buying power before and after and its commission; the questions placing it would ask; or the
 * refusal it would meet, in the words the ticket shows after placing. Asked a moment after the last change, and only
 * the answer to the latest order is shown: an answer that comes back after a newer question was asked is dropped.
 * Announced politely; the box keeps the height it has had, so the page does not jump as answers change length.
 */
import type { OrderRequest, WhatIf } from '@gatehouse/protocol';
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { ApiError, api, describeError } from '../../api.js';
import { money } from '../../format.js';

/** How long the ticket must rest before its order is asked about. */
export const WHAT_IF_DELAY_MS = 300;

type Shown = { kind: 'idle' } | { kind: 'answer'; whatIf: WhatIf } | { kind: 'error'; error: unknown };

/** `order`: the ticket's order as it would be sent, or null while a field is not a number yet. */
export function WhatIfPreview(props: { accountId: string; order: OrderRequest | null }) {
  const { accountId } = props;
  const [shown, setShown] = useState<Shown>({ kind: 'idle' });
  const [pending, setPending] = useState(false);
  // Each question asked gets the next number; an answer is shown only if its number is still the latest.
  const latest = useRef(0);
  const key = props.order === null ? null : JSON.stringify(props.order);

  useEffect(() => {
    latest.current += 1;
    const asked = latest.current;
    if (key === null) {
      setShown({ kind: 'idle' });
      setPending(false);
      return;
    }
    setPending(true);
    const timer = setTimeout(() => {
      api<WhatIf>(
        'POST',
        `/v1/accounts/${encodeURIComponent(accountId)}/orders/what-if`,
        JSON.parse(key),
      ).then(
        (whatIf) => {
          if (latest.current !== asked) return;
          setShown({ kind: 'answer', whatIf });
          setPending(false);
        },
        (error: unknown) => {
          if (latest.current !== asked) return;
          setShown({ kind: 'error', error });
          setPending(false);
        },
      );
    }, WHAT_IF_DELAY_MS);
    return () => clearTimeout(timer);
  }, [accountId, key]);

  // Never shorter than it has been: a shorter answer after a longer one leaves the page where it was.
  const box = useRef<HTMLDivElement>(null);
  const [minHeight, setMinHeight] = useState(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: measured after each answer is on the page
  useLayoutEffect(() => {
    const height = box.current?.offsetHeight ?? 0;
    if (height > minHeight) setMinHeight(height);
  }, [shown]);

  return (
    <div
      ref={box}
      className={pending ? 'what-if pending' : 'what-if'}
      role="status"
      aria-live="polite"
      aria-label="What this order would do"
      aria-busy={pending}
      style={minHeight > 0 ? { minHeight } : undefined}
    >
      <WhatIfText shown={shown} />
    </div>
  );
}

function WhatIfText({ shown }: { shown: Shown }) {
  if (shown.kind === 'idle') return <p className="muted">Enter the order to see what it would do.</p>;
  if (shown.kind === 'error') return <p>Cannot check this order: {describeError(shown.error)}</p>;
  const { whatIf } = shown;
  const { effect: e } = whatIf;
  const base = e.baseCurrency;
  if (whatIf.outcome === 'refused' && whatIf.refusal !== undefined) {
    const { code, message, details, ruleId } = whatIf.refusal;
    // The words the ticket shows when the order is placed and refused.
    return (
      <p data-outcome="refused">
        <strong>Would be refused</strong> — {describeError(new ApiError(422, code, message, details, ruleId))}
      </p>
    );
  }
  const effect = (
    <>
      buying power {money(e.buyingPower.before)} → {money(e.buyingPower.after)} {base}, commission{' '}
      {money(e.commission, e.currency)}
    </>
  );
  if (whatIf.outcome === 'confirmation_required')
    return (
      <div data-outcome="confirmation_required">
        <p>
          <strong>Would ask you to confirm</strong> — {effect}:
        </p>
        <ul>
          {(whatIf.questions ?? []).map((q) => (
            <li key={q.id} data-question={q.id}>
              {q.message}
            </li>
          ))}
        </ul>
      </div>
    );
  return (
    <div data-outcome="accepted">
      <p>
        <strong>Would be accepted</strong>
        {e.fillsNow ? '' : `, and rest until the market reaches ${money(e.price, e.currency)}`} — {effect}.
      </p>
      <p className="muted">
        Initial margin {money(e.initialMargin.before)} → {money(e.initialMargin.after)} {base} · position{' '}
        {e.position.before} → {e.position.after}
      </p>
    </div>
  );
}

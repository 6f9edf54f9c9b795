/**
 * The order ticket: a new order, or a change to a working one (pre-filled; quantity and prices only, as the gateway
 * allows). Either goes through the gate, and its outcome is shown as the gateway words it: a confirmation question
 * in a modal dialog (asked, never answered for the person), a refusal, or the order. Prices may be typed with a
 * decimal comma; a value that is not a number is named on its field before anything is sent. Focus moves to each
 * new step: the question, then the outcome. While a new order is typed, what it would do is shown live
 * (`trade/what-if`).
 */
import type { ConfirmationRequired, OrderRequest, OrderView } from '@gatehouse/protocol';
import { useEffect, useId, useRef, useState } from 'react';
import { ApiError, api } from '../../api.js';
import { ErrorText, Notice, useAction } from '../../components.js';
import { ConfirmDialog } from '../../dialog.js';
import { orderLine, parseDecimal, price } from '../../format.js';
import { useStream } from '../../stream.js';
import { useTradingState } from '../../trading-state.js';
import { WhatIfPreview } from './what-if.js';

/** What the ticket needs of an instrument. */
export interface TicketInstrument {
  id: number;
  symbol: string;
}

type Outcome =
  | { kind: 'accepted'; order: OrderView }
  | { kind: 'confirm'; confirmation: ConfirmationRequired };
type Side = 'BUY' | 'SELL';
type Tif = 'DAY' | 'GTC' | 'IOC';
const TYPE_NAMES: Record<string, string> = {
  MKT: 'Market',
  LMT: 'Limit',
  STP: 'Stop',
  STP_LMT: 'Stop limit',
};
const TIF_NAMES: Record<Tif, string> = { DAY: 'Day', GTC: 'Good till cancelled', IOC: 'Immediate or cancel' };

/**
 * `modifying`: the working order being changed; `onChanged` gets it as changed, `onClose` ends the change without
 * one. `onPlaced`: a new order was accepted.
 */
export function OrderTicket(props: {
  instrument: TicketInstrument;
  accountId: string;
  onPlaced: () => void;
  modifying?: OrderView;
  onChanged?: (order: OrderView) => void;
  onClose?: () => void;
}) {
  const { instrument, accountId, modifying } = props;
  const trading = useTradingState();
  const [side, setSide] = useState<Side>((modifying?.side as Side | undefined) ?? 'BUY');
  const [quantity, setQuantity] = useState(String(modifying?.quantity ?? 1));
  const [type, setType] = useState<string>(modifying?.type ?? 'MKT');
  const [limit, setLimit] = useState(modifying?.limitPrice == null ? '' : price(modifying.limitPrice));
  const [stop] = useState(modifying?.stopPrice == null ? '' : price(modifying.stopPrice));
  const [tif, setTif] = useState<Tif>((modifying?.tif as Tif | undefined) ?? 'DAY');
  const [fieldErrors, setFieldErrors] = useState<{ quantity?: string; limit?: string }>({});
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const { busy, error, run, setError } = useAction();
  const ids = { side: useId(), type: useId(), tif: useId(), heading: useId(), blocked: useId() };
  const base = `/v1/accounts/${encodeURIComponent(accountId)}/orders`;
  // One client order id per ticket: a retried submission is recognised by the gateway, never doubled.
  const clientOrderId = useRef(crypto.randomUUID());
  const outcomeRef = useRef<HTMLDivElement>(null);
  const submitRef = useRef<HTMLButtonElement>(null);
  const confirming = outcome?.kind === 'confirm';
  const hasLimit = type === 'LMT' || type === 'STP_LMT';

  // The accepted order's line follows the order: a cancel, fill or change elsewhere is shown, never a stale
  // "working".
  const shown = outcome?.kind === 'accepted' ? outcome.order.id : null;
  useStream((m) => {
    if (m.topic !== 'orders' || shown === null || m.orderId !== shown) return;
    void api<OrderView>('GET', `${base}/${encodeURIComponent(shown)}`).then(
      (order) => setOutcome((o) => (o?.kind === 'accepted' && o.order.id === order.id ? { ...o, order } : o)),
      () => {},
    );
  });

  /** Moves focus to the outcome once it is on the page (the next step after Buy or Confirm). */
  const [focusOutcome, setFocusOutcome] = useState(0);
  useEffect(() => {
    if (focusOutcome > 0) outcomeRef.current?.focus();
  }, [focusOutcome]);

  // A value refused on its field: focus goes to the first such field.
  const formRef = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (fieldErrors.quantity !== undefined || fieldErrors.limit !== undefined)
      formRef.current?.querySelector<HTMLInputElement>('[aria-invalid=true]')?.focus();
  }, [fieldErrors]);

  const answered = (result: OrderView | ConfirmationRequired) => {
    if ('confirmationId' in result) {
      setOutcome({ kind: 'confirm', confirmation: result });
      return;
    }
    clientOrderId.current = crypto.randomUUID();
    if (modifying !== undefined) {
      setOutcome(null);
      props.onChanged?.(result);
      return;
    }
    setOutcome({ kind: 'accepted', order: result });
    setFocusOutcome((n) => n + 1);
    props.onPlaced();
  };

  /** Field-level checks; the numbers to send, or null when a field is wrong (each wrong field says why). */
  const validate = (): { quantity: number; limitPrice?: number } | null => {
    const q = parseDecimal(quantity);
    const l = hasLimit ? parseDecimal(limit) : undefined;
    const errors = {
      ...(q === null ? { quantity: 'Enter a quantity above zero, such as 10.' } : {}),
      ...(l === null ? { limit: 'Enter a price above zero, such as 150.50 or 150,50.' } : {}),
    };
    setFieldErrors(errors);
    if (q === null || l === null) return null;
    return { quantity: q, ...(l === undefined ? {} : { limitPrice: l }) };
  };

  const submit = () => {
    setOutcome(null);
    const values = validate();
    if (values === null) {
      setError(null);
      return;
    }
    void run(async () => {
      try {
        if (modifying !== undefined) {
          const change = {
            quantity: values.quantity,
            ...(values.limitPrice === undefined ? {} : { limitPrice: values.limitPrice }),
          };
          answered(
            await api<OrderView | ConfirmationRequired>(
              'PATCH',
              `${base}/${encodeURIComponent(modifying.id)}`,
              change,
            ),
          );
          return;
        }
        const order: OrderRequest = {
          clientOrderId: clientOrderId.current,
          instrumentId: instrument.id,
          side,
          type: type as OrderRequest['type'],
          quantity: values.quantity,
          tif,
          ...(values.limitPrice === undefined ? {} : { limitPrice: values.limitPrice }),
        };
        answered(await api<OrderView | ConfirmationRequired>('POST', base, order));
      } catch (error) {
        // A coded refusal ends this ticket's attempt; a lost response keeps the id, so a retry is recognised.
        if (error instanceof ApiError && error.code !== 'NETWORK')
          clientOrderId.current = crypto.randomUUID();
        setFocusOutcome((n) => n + 1);
        throw error;
      }
    });
  };

  const dontSend = () => {
    setOutcome(null);
    setError(null);
    // The dialog gives focus back to the button that opened it; the button is enabled again first.
    setTimeout(() => submitRef.current?.focus(), 0);
  };

  /** The order as it would be sent now, for the what-if; null while a field is not a number yet. */
  const typed = (): OrderRequest | null => {
    const q = parseDecimal(quantity);
    const l = hasLimit ? parseDecimal(limit) : undefined;
    if (q === null || l === null) return null;
    return {
      clientOrderId: clientOrderId.current,
      instrumentId: instrument.id,
      side,
      type: type as OrderRequest['type'],
      quantity: q,
      tif,
      ...(l === undefined ? {} : { limitPrice: l }),
    };
  };

  const title = modifying === undefined ? 'Order ticket' : `Modify order: ${orderLine(modifying)}`;
  return (
    <section aria-labelledby={ids.heading} className="card ticket">
      <h2 id={ids.heading} tabIndex={-1}>
        {modifying === undefined ? 'Order ticket' : 'Modify order'}
      </h2>
      <form
        ref={formRef}
        aria-label={title}
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        {modifying !== undefined && (
          <p className="fixed-terms">
            {modifying.side} {modifying.symbol ?? instrument.symbol} ·{' '}
            {TYPE_NAMES[modifying.type] ?? modifying.type} ·{' '}
            {TIF_NAMES[modifying.tif as Tif] ?? modifying.tif} · filled {modifying.filledQuantity} of{' '}
            {modifying.quantity}
          </p>
        )}
        <fieldset className="grid" disabled={confirming}>
          <legend className="sr-only">{title}</legend>
          {modifying === undefined && (
            <div className="field">
              <label htmlFor={ids.side}>Side</label>
              <select
                id={ids.side}
                value={side}
                disabled={!trading.canPlace}
                onChange={(e) => setSide(e.target.value as Side)}
              >
                <option value="BUY">Buy</option>
                <option value="SELL">Sell</option>
              </select>
            </div>
          )}
          <CheckedField
            label="Quantity"
            value={quantity}
            onChange={setQuantity}
            inputMode="decimal"
            name="quantity"
            error={fieldErrors.quantity}
          />
          {modifying === undefined && (
            <div className="field">
              <label htmlFor={ids.type}>Order type</label>
              <select id={ids.type} value={type} onChange={(e) => setType(e.target.value)}>
                <option value="MKT">Market</option>
                <option value="LMT">Limit</option>
              </select>
            </div>
          )}
          {hasLimit && (
            <CheckedField
              label="Limit price"
              value={limit}
              onChange={setLimit}
              inputMode="decimal"
              name="limitPrice"
              error={fieldErrors.limit}
            />
          )}
          {modifying !== undefined && stop !== '' && <p>Stop price {stop}</p>}
          {modifying === undefined && (
            <div className="field">
              <label htmlFor={ids.tif}>Time in force</label>
              <select id={ids.tif} value={tif} onChange={(e) => setTif(e.target.value as Tif)}>
                <option value="DAY">Day</option>
                <option value="GTC">Good till cancelled</option>
                <option value="IOC">Immediate or cancel</option>
              </select>
            </div>
          )}
        </fieldset>
        <div className="actions">
          <button
            ref={submitRef}
            type="submit"
            disabled={busy || confirming || !trading.canPlace}
            aria-describedby={trading.placeBlockedReason === null ? undefined : ids.blocked}
          >
            {modifying === undefined
              ? `${side === 'BUY' ? 'Buy' : 'Sell'} ${instrument.symbol}`
              : 'Change order'}
          </button>
          {modifying !== undefined && (
            <button type="button" className="secondary" disabled={confirming} onClick={props.onClose}>
              Keep as it is
            </button>
          )}
        </div>
        {trading.placeBlockedReason !== null && (
          <p className="hint" id={ids.blocked}>
            {trading.placeBlockedReason}
          </p>
        )}
      </form>
      {modifying === undefined && <WhatIfPreview accountId={accountId} order={typed()} />}
      <div className="outcome" aria-live="polite" ref={outcomeRef} tabIndex={-1}>
        <ErrorText error={error} />
        {outcome?.kind === 'accepted' && (
          <Notice>
            Order accepted: {outcome.order.side === 'BUY' ? 'buy' : 'sell'} {outcome.order.quantity}{' '}
            {instrument.symbol},{' '}
            {outcome.order.status === 'filled'
              ? `filled at ${outcome.order.avgFillPrice}`
              : outcome.order.status === 'working' && outcome.order.filledQuantity > 0
                ? `working, ${outcome.order.filledQuantity} filled`
                : outcome.order.status}
            .
          </Notice>
        )}
      </div>
      {outcome?.kind === 'confirm' && (
        <ConfirmDialog title="Please confirm" role="alertdialog" onDismiss={dontSend}>
          <p>{modifying === undefined ? `${side} ${quantity} ${instrument.symbol}` : title}</p>
          <ul>
            {outcome.confirmation.questions.map((q) => (
              <li key={q.id} data-question={q.id}>
                {q.message}
              </li>
            ))}
          </ul>
          <div className="actions">
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                void run(async () => {
                  const { confirmationId } = outcome.confirmation;
                  try {
                    answered(
                      await api<OrderView | ConfirmationRequired>(
                        'POST',
                        `${base}/confirmations/${encodeURIComponent(confirmationId)}`,
                        { confirmed: true },
                      ),
                    );
                  } catch (error) {
                    setOutcome(null);
                    setFocusOutcome((n) => n + 1);
                    throw error;
                  }
                })
              }
            >
              Confirm and send
            </button>
            <button type="button" className="secondary" onClick={dontSend}>
              Don’t send
            </button>
          </div>
        </ConfirmDialog>
      )}
    </section>
  );
}

/** A text field that names what is wrong with its value (`aria-invalid`, the message read with the field). */
function CheckedField(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  inputMode: 'decimal' | 'numeric';
  name: string;
  error: string | undefined;
}) {
  const id = useId();
  const messageId = `${id}-error`;
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type="text"
        value={props.value}
        inputMode={props.inputMode}
        autoComplete="off"
        required
        aria-invalid={props.error === undefined ? undefined : true}
        aria-describedby={props.error === undefined ? undefined : messageId}
        onChange={(e) => props.onChange(e.target.value)}
      />
      {props.error !== undefined && (
        <span id={messageId} className="field-error">
          {props.error}
        </span>
      )}
    </div>
  );
}

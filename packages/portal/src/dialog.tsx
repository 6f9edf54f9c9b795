/**
 * A modal confirmation: opened in the browser's top layer (so it is in view whatever the page's scroll, and the
 * page behind it is inert), focus moved to its heading, Tab and Shift+Tab kept inside it, Escape meaning the
 * dismiss action, and focus given back to where it was when it closes.
 */
import { useEffect, useRef } from 'react';

const FOCUSABLE =
  'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), [tabindex="0"]';

export function ConfirmDialog(props: {
  title: string;
  /** `alertdialog` for a question that interrupts (an order's confirmation). */
  role?: 'dialog' | 'alertdialog';
  /** Escape and the browser's close request run this (e.g. "Don't send"). */
  onDismiss: () => void;
  children: React.ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const onDismiss = useRef(props.onDismiss);
  onDismiss.current = props.onDismiss;

  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (!dialog.open) dialog.showModal();
    headingRef.current?.focus();
    return () => {
      if (dialog.open) dialog.close();
      // Back to where the person was, if that is still on the page (else the caller moves focus itself).
      if (before?.isConnected === true && !before.hasAttribute('disabled')) before.focus();
    };
  }, []);

  const keep = (event: React.KeyboardEvent<HTMLDialogElement>) => {
    if (event.key !== 'Tab' || ref.current === null) return;
    const items = [...ref.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
    const first = items[0];
    const last = items[items.length - 1];
    if (first === undefined || last === undefined) return;
    const active = document.activeElement;
    if (event.shiftKey && (active === first || active === headingRef.current)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && active === last) {
      event.preventDefault();
      first.focus();
    }
  };

  return (
    <dialog
      ref={ref}
      className="card confirm modal"
      role={props.role ?? 'dialog'}
      aria-modal="true"
      aria-labelledby="confirm-dialog-h"
      onKeyDown={keep}
      onCancel={(event) => {
        // Escape: the dialog stays under React's control; the dismiss action closes it.
        event.preventDefault();
        onDismiss.current();
      }}
    >
      <h3 id="confirm-dialog-h" ref={headingRef} tabIndex={-1}>
        {props.title}
      </h3>
      {props.children}
    </dialog>
  );
}

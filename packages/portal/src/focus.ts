/**
 * Where focus goes when a step replaces what had it (WCAG 2.4.3 Focus Order): into the new step, or to the page's
 * heading when what had focus is gone, never left on the page's body.
 */

/** Focuses the page's heading (`main h1`), made focusable by script only (not a Tab stop). */
export function focusPageHeading(): void {
  // After the browser has laid the new page out: its heading may be rendered in the same commit.
  requestAnimationFrame(() => {
    const heading = document.querySelector<HTMLElement>('main h1');
    if (heading === null) return;
    heading.tabIndex = -1;
    heading.focus();
  });
}

/**
 * Focuses what the address's fragment names, so that a link to a part of a page lands there: a section
 * (`/trade#watchlist`) at its heading, a control (`/security#push`, the button that adds a phone) itself. Without a
 * fragment, the page's heading. A part that shows once its data has loaded takes the focus from the heading when it
 * appears (within 3 s), unless the person has moved it since.
 */
export function focusFragmentOrHeading(): void {
  const id = decodeURIComponent(window.location.hash.slice(1));
  const focusTarget = (): boolean => {
    const target = id === '' ? null : document.getElementById(id);
    if (target === null) return false;
    const heading = target.matches('h1, h2, h3') ? target : target.querySelector<HTMLElement>('h2, h3');
    const element = heading ?? target;
    // A control is focusable as it is; a heading or a section is made focusable by script only (not a Tab stop).
    if (!element.matches('a[href], button, input, select, textarea')) element.tabIndex = -1;
    element.focus();
    return true;
  };
  requestAnimationFrame(() => {
    if (focusTarget()) return;
    focusPageHeading();
    if (id === '') return;
    const until = Date.now() + 3_000;
    const retry = () => {
      const active = document.activeElement;
      const stillOnHeading = active === null || active === document.body || active.matches('main h1');
      if (!stillOnHeading || focusTarget() || Date.now() > until) return;
      setTimeout(retry, 100);
    };
    setTimeout(retry, 100);
  });
}

/** Focuses `element` when it is still on the page (and not the page's body); else the page's heading. */
export function focusOrHeading(element: Element | null): void {
  if (element instanceof HTMLElement && element !== document.body && element.isConnected) element.focus();
  else focusPageHeading();
}

let headingAfterSignIn = false;

/** Asks the signed-in shell, about to replace the login page, to focus its page's heading once shown. */
export function focusHeadingAfterSignIn(): void {
  headingAfterSignIn = true;
}

/** Whether the shell was asked to focus the heading (and forgets it). */
export function takeFocusAfterSignIn(): boolean {
  const wanted = headingAfterSignIn;
  headingAfterSignIn = false;
  return wanted;
}

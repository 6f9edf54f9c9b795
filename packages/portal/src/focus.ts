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
 * Focuses what the address's fragment names — a section (`/trade#watchlist`) at its heading — so that a link to a
 * part of a page lands there; without a fragment, or when nothing has that id, the page's heading.
 */
export function focusFragmentOrHeading(): void {
  requestAnimationFrame(() => {
    const id = decodeURIComponent(window.location.hash.slice(1));
    const target = id === '' ? null : document.getElementById(id);
    const element =
      target === null
        ? document.querySelector<HTMLElement>('main h1')
        : target.matches('h1, h2, h3')
          ? target
          : (target.querySelector<HTMLElement>('h2, h3') ?? target);
    if (element === null) return;
    element.tabIndex = -1;
    element.focus();
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

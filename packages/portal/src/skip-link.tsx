/**
 * "Skip to content": the first thing Tab reaches on every signed-in page; it moves focus to the page's main region,
 * past the navigation (WCAG 2.4.1 Bypass Blocks).
 */
import { useEffect } from 'react';
import './skip-link.css';

export function SkipLink() {
  // The link's target: the shell's main region, focusable from the link only (not from Tab).
  useEffect(() => {
    const main = document.querySelector('main');
    if (main === null) return;
    main.id = 'content';
    main.tabIndex = -1;
  }, []);
  return (
    <a className="skip-link" href="#content">
      Skip to content
    </a>
  );
}

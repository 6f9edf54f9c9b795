/**
 * Issue 20, item 9: the Security page on a phone (390 px). Devices and sessions are cards — nothing scrolls
 * sideways, inside a box or the page, and every Revoke stays in view; the device and session in use are marked;
 * each device says when and from which network it was first seen; the events come 20 to a page in words, with
 * Older and Newer; revoking a device and signing out the other sessions ask first (an accessible dialog: focus moves
 * in, Escape cancels) and say what was done.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  axeViolations,
  horizontalOverflow,
  loginWithTotp,
  screenshot,
  unlabelledControls,
  usePortalRig,
} from './support/browser.js';

const rig = usePortalRig();

const newPage = (width: number): Promise<Page> => rig.newPage(width);

/** Elements that scroll sideways inside themselves (overflow-x auto or scroll, with content wider than the box). */
function sidewaysScrollers(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll<HTMLElement>('body *'))
      .filter((e) => {
        const overflow = getComputedStyle(e).overflowX;
        return (overflow === 'auto' || overflow === 'scroll') && e.scrollWidth > e.clientWidth + 1;
      })
      .map((e) => `${e.tagName.toLowerCase()}.${e.className}`),
  );
}

/** Audited changes of the signed-in user, through the API the page uses: new recovery codes, `count` times. */
async function makeEvents(page: Page, count: number): Promise<void> {
  await page.evaluate(async (n) => {
    const who = (await (await fetch('/v1/session')).json()) as { csrfToken: string };
    for (let i = 0; i < n; i += 1) {
      const made = await fetch('/v1/factors/recovery-codes', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': who.csrfToken },
        body: '{}',
      });
      if (!made.ok) throw new Error(`recovery codes: ${made.status}`);
    }
  }, count);
}

describe('the Security page at 390 px', () => {
  it('shows cards with the device in use marked, first-seen places, paged readable events, and confirms revocations', async () => {
    const other = await newPage(1280);
    await loginWithTotp(other, rig.base, 'charlotte');
    const page = await newPage(390);
    await loginWithTotp(page, rig.base, 'charlotte');
    await makeEvents(page, 22);
    await page.goto(`${rig.base}/security`);
    await page.getByRole('heading', { level: 1, name: 'Security' }).waitFor();
    const devices = page.getByRole('list', { name: 'Your devices' }).getByRole('listitem');
    await expect.poll(() => devices.count()).toBe(2);
    await page.waitForLoadState('networkidle');

    // Nothing scrolls sideways: not the page, not a box inside it.
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    expect(await sidewaysScrollers(page)).toEqual([]);
    expect(await unlabelledControls(page)).toEqual([]);

    // The device and the session in use are marked, once each.
    const mine = devices.filter({ hasText: 'This device' });
    expect(await mine.count()).toBe(1);
    const sessions = page.getByRole('list', { name: 'Your sessions on every channel' }).getByRole('listitem');
    expect(await sessions.count()).toBe(2);
    expect(await sessions.filter({ hasText: 'This session' }).count()).toBe(1);
    // Each device says when and where it was first seen.
    for (const text of await devices.allInnerTexts())
      expect(text).toMatch(/First seen .+ from network 127\.0\.0\.0\/24/);

    // The other browser, renamed "Pixel": its Revoke is in view, not cut off or scrolled away.
    const theirs = devices.filter({ hasNotText: 'This device' });
    await theirs.getByRole('button', { name: /^Rename / }).click();
    await theirs.getByRole('textbox').fill('Pixel');
    await theirs.getByRole('button', { name: 'Save' }).click();
    const pixel = devices.filter({ hasText: 'Pixel' });
    await pixel.getByRole('heading', { name: 'Pixel' }).waitFor();
    const revoke = pixel.getByRole('button', { name: 'Revoke Pixel' });
    await revoke.scrollIntoViewIfNeeded();
    const box = await revoke.boundingBox();
    expect(box).not.toBeNull();
    expect((box?.x ?? -1) >= 0 && (box?.x ?? 0) + (box?.width ?? 0) <= 390).toBe(true);

    // Events: 20 to a page, in words (no `push.approved`-like codes), Older and Newer.
    const events = page.getByRole('list', { name: /^Security events, page/ }).getByRole('listitem');
    await expect.poll(() => events.count()).toBe(20);
    const first = await events.allInnerTexts();
    expect(first.join('\n')).toContain('New recovery codes generated');
    for (const line of first) expect(line).not.toMatch(/\b[a-z]+\.[a-z_]+\b/);
    await page.getByRole('button', { name: 'Older' }).click();
    await page.getByRole('list', { name: 'Security events, page 2' }).waitFor();
    await expect.poll(async () => (await events.allInnerTexts()).join('\n')).toMatch(/Logged in/);
    const second = await events.allInnerTexts();
    expect(second.join('\n')).not.toBe(first.join('\n'));
    await page.getByRole('button', { name: 'Newer' }).click();
    await page.getByRole('list', { name: 'Security events, page 1' }).waitFor();
    await expect.poll(async () => (await events.allInnerTexts()).join('\n')).toBe(first.join('\n'));

    // A sensible height for a phone: not the 6,000 px of unpaged events (the page holds devices, factors, the
    // travel form and one page of events).
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    expect(height).toBeLessThan(5_000);
    expect(await axeViolations(page)).toEqual([]);
    await screenshot(page, 'security-390');

    // Revoking asks first: focus moves into the dialog, Escape cancels and nothing is revoked.
    await revoke.click();
    const dialog = page.getByRole('dialog', { name: 'Revoke Pixel?' });
    await dialog.waitFor();
    expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
    expect(await axeViolations(page)).toEqual([]);
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.isVisible()).toBe(false);
    expect(await devices.count()).toBe(2);

    // Signing out the other sessions asks, then says how many ended.
    await page.getByRole('button', { name: 'Sign out all other sessions' }).click();
    const signOut = page.getByRole('dialog', { name: 'Sign out all other sessions?' });
    await signOut.waitFor();
    expect(await signOut.evaluate((d) => d.contains(document.activeElement))).toBe(true);
    await signOut.getByRole('button', { name: 'Sign out others' }).click();
    await page.getByRole('status').filter({ hasText: '1 other session signed out.' }).waitFor();
    await expect.poll(() => sessions.count()).toBe(1);
    await other.getByText('This session was signed out from another session.').waitFor();

    // Revoking, confirmed: the result is announced and the device is gone.
    await revoke.click();
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('status').filter({ hasText: 'Pixel revoked.' }).waitFor();
    await expect.poll(() => devices.count()).toBe(1);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
  }, 180_000);

  it('shows the same page at 1280 px without a box scrolling sideways', async () => {
    const page = await newPage(1280);
    await loginWithTotp(page, rig.base, 'bruno');
    await page.goto(`${rig.base}/security`);
    await page.getByRole('heading', { level: 1, name: 'Security' }).waitFor();
    await page.getByRole('list', { name: 'Your devices' }).getByText('This device').waitFor();
    await page.waitForLoadState('networkidle');
    expect(await sidewaysScrollers(page)).toEqual([]);
    expect(await axeViolations(page)).toEqual([]);
    await screenshot(page, 'security');
  }, 90_000);
});

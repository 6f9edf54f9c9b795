/**
 * Browser plumbing for the portal's end-to-end tests: `gatehouse serve --demo` in a child process on a free port,
 * and Debian's Chromium (`/usr/bin/chromium`) driven by playwright-core. Chromium is required, and comes with the
 * test setup: when it is missing on a Debian machine where the suite runs as root (a fresh CI or container
 * machine), `ensureChromium` installs Debian's package with apt; anywhere else the suite fails with the one command
 * to run. It never skips. (Playwright's own browser download needs a network the machines here do not have.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { freePort, nextTotp } from './local.js';

export const CHROMIUM = process.env.GATEHOUSE_CHROMIUM ?? '/usr/bin/chromium';

/** Debian's packages the suite needs: the browser and a font for its pages. */
const APT_PACKAGES = ['chromium', 'fonts-dejavu-core'];

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}`)),
    );
  });
}

/**
 * The Chromium binary to drive. `GATEHOUSE_CHROMIUM` names one explicitly (it must exist). Otherwise Debian's
 * `/usr/bin/chromium`, installed here with apt when it is missing and this process may (root, apt-get present).
 */
export async function ensureChromium(): Promise<string> {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const howTo = `install it with \`apt-get install ${APT_PACKAGES.join(' ')}\` (as root), or set GATEHOUSE_CHROMIUM to a Chromium binary`;
  if (process.env.GATEHOUSE_CHROMIUM !== undefined)
    throw new Error(`GATEHOUSE_CHROMIUM names ${CHROMIUM}, which does not exist: ${howTo}`);
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get'))
    throw new Error(`Chromium is not installed at ${CHROMIUM}: ${howTo}`);
  process.stderr.write(
    `Chromium is not installed: installing Debian's ${APT_PACKAGES.join(', ')} with apt-get\n`,
  );
  await run('apt-get', ['update', '-qq']);
  await run('apt-get', ['install', '-y', '-qq', ...APT_PACKAGES]);
  if (!existsSync(CHROMIUM))
    throw new Error(`apt-get installed ${APT_PACKAGES[0]}, but ${CHROMIUM} is still missing`);
  return CHROMIUM;
}
const root = new URL('../..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/bin/gatehouse.js');

/** Where the run saves its screenshots: the committed set when asked to update it, else a scratch folder. */
export const SCREENSHOT_DIR =
  process.env.GATEHOUSE_UPDATE_SCREENSHOTS === '1'
    ? join(root, 'docs/screenshots')
    : mkdtempSync(join(tmpdir(), 'gh-shots-'));

export const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef0123456789';

export const DEMO = {
  alice: { password: 'alice-demo-password', totp: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' },
  bruno: { password: 'bruno-demo-password', totp: 'KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU' },
  charlotte: { password: 'charlotte-demo-password', totp: 'MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK' },
  hana: { password: 'hana-demo-password', totp: 'NBSWY3DPO5XXE3DENBSWY3DPO5XXE3DE' },
  viktor: { password: 'viktor-demo-password', totp: 'OZUWW5DPOIWWCZDWNFZWK4RNOZUWW5DP' },
} as const;
export type DemoUser = keyof typeof DEMO;

export interface PortalRig {
  base: string;
  browser: Browser;
  /** The gateway's config file: an operator's CLI command given `--config` works on the same database. */
  configFile: string;
  stop(): Promise<void>;
}

/** Starts the gateway (demo data, push fallback after 1.5 s, WebAuthn on this origin) and Chromium. */
export interface PortalRigOptions {
  /**
   * Serve over TLS with a self-signed certificate for `localhost` made for this run (openssl), as a gateway facing
   * the web does: its public URL — and every link it makes, such as a phone's activation link — is `https://`.
   * The browser is told to accept the certificate; a test's own `fetch` needs `NODE_TLS_REJECT_UNAUTHORIZED=0`.
   */
  https?: boolean;
}

/** A self-signed certificate and key for `localhost`, valid for a day, written to `dir`. */
async function selfSignedCertificate(dir: string): Promise<{ tlsCertFile: string; tlsKeyFile: string }> {
  const tlsCertFile = join(dir, 'cert.pem');
  const tlsKeyFile = join(dir, 'key.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost',
    '-keyout',
    tlsKeyFile,
    '-out',
    tlsCertFile,
  ]);
  return { tlsCertFile, tlsKeyFile };
}

export async function startPortalRig(options: PortalRigOptions = {}): Promise<PortalRig> {
  const executablePath = await ensureChromium();
  if (!existsSync(join(root, 'packages/portal/dist/index.html')))
    throw new Error('The portal is not built: run `npm run build` first');
  const dir = mkdtempSync(join(tmpdir(), 'gh-portal-'));
  const port = await freePort();
  const tls = options.https === true ? await selfSignedCertificate(dir) : {};
  // WebAuthn's relying party is `localhost`, so the browser uses that name, not 127.0.0.1.
  const base = `${options.https === true ? 'https' : 'http'}://localhost:${port}`;
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      // The browser's requests come from loopback; trusting it as a proxy lets a test give a page another client
      // address with X-Forwarded-For (a move to another network, which asks for a step-up). A gateway that trusts
      // a proxy is told its public URL.
      server: { port, trustedProxies: ['127.0.0.1'], publicUrl: base, ...tls },
      database: { url: join(dir, 'gatehouse.db') },
      webauthn: { origins: [base] },
      push: { deliveryTimeoutMs: 1_500 },
      secrets: { adminApiToken: ADMIN_TOKEN },
      log: { level: 'warn' },
    }),
  );
  const server: ChildProcess = spawn(
    process.execPath,
    [cli, 'serve', '--demo', '--config', join(dir, 'config.json')],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    server.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('serving on')) resolve();
    });
    server.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    server.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${output}`)));
  });
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // As root in a container, and without Chromium's background traffic (the machine has no outside network).
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // The rig's own self-signed certificate (options.https).
      ...(options.https === true ? ['--ignore-certificate-errors'] : []),
    ],
  });
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return {
    base,
    browser,
    configFile: join(dir, 'config.json'),
    async stop() {
      await browser.close();
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A page's size: a viewport, or a width (860 px tall on a desktop, 844 px on a phone). */
export type PageSize = { width: number; height: number } | number;

/** A test file's portal rig: its gateway and Chromium, and browsers (contexts) closed with it. */
export interface PortalSuite extends PortalRig {
  /** A new browser of its own (its own cookies: a session and a device of its own). */
  newContext(size: PageSize): Promise<BrowserContext>;
  /** A page in a new browser of its own. */
  newPage(size: PageSize): Promise<Page>;
}

/**
 * Starts the portal rig before a test file's tests and stops it after them, with every browser it opened. Its
 * properties are read when a test runs (the rig is started by then).
 */
export function usePortalRig(options: PortalRigOptions = {}): PortalSuite {
  let started: PortalRig | undefined;
  const contexts: BrowserContext[] = [];
  // Long enough for the setup to install Debian's Chromium on a fresh machine (ensureChromium).
  beforeAll(async () => {
    started = await startPortalRig(options);
  }, 600_000);
  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await started?.stop();
  });
  const rig = (): PortalRig => {
    if (started === undefined) throw new Error('The portal rig is not started yet');
    return started;
  };
  const newContext = async (size: PageSize): Promise<BrowserContext> => {
    const viewport = typeof size === 'number' ? { width: size, height: size > 600 ? 860 : 844 } : size;
    const context = await rig().browser.newContext({ viewport, ignoreHTTPSErrors: options.https === true });
    contexts.push(context);
    return context;
  };
  return {
    get base() {
      return rig().base;
    },
    get browser() {
      return rig().browser;
    },
    get configFile() {
      return rig().configFile;
    },
    stop: () => rig().stop(),
    newContext,
    newPage: async (size) => (await newContext(size)).newPage(),
  };
}

export { nextTotp };

/**
 * Opens the login page at `path` and gives a demo user's password, up to the factor step. By default the login is
 * asked to land on Trade (`?next=`): a login otherwise lands on Readiness while anything is missing (the demo users
 * have no push device, for one), which `portal-readiness.test.ts` shows. `next` is written encoded, so that a wait
 * for a URL ending in `/trade` waits for the landing, not for this address.
 */
export async function startLogin(
  page: Page,
  base: string,
  user: DemoUser,
  path = `/login?next=${encodeURIComponent('/trade')}`,
): Promise<void> {
  await page.goto(`${base}${path}`);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(DEMO[user].password);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('group', { name: 'Choose a second factor' }).waitFor();
}

/** Logs in with the password and a TOTP code, and waits for the trading page. */
export async function loginWithTotp(page: Page, base: string, user: DemoUser): Promise<void> {
  await startLogin(page, base, user);
  await page.getByRole('radio', { name: 'Authenticator app code' }).check();
  await page.getByLabel('6-digit code from your authenticator app').fill(await nextTotp(DEMO[user].totp));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL('**/trade');
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true, animations: 'disabled' });
  return path;
}

/** Every form control on the page has a name a screen reader can read (a label, or aria-label). */
export async function unlabelledControls(page: Page): Promise<string[]> {
  return page.$$eval('input, select, textarea, button', (elements) =>
    elements
      .filter((e) => {
        const el = e as HTMLInputElement;
        if (el.type === 'hidden') return false;
        const labelled = (el.labels?.length ?? 0) > 0 || el.getAttribute('aria-label') !== null;
        const text = el.tagName === 'BUTTON' && (el.textContent ?? '').trim() !== '';
        return !labelled && !text;
      })
      .map((e) => e.outerHTML.slice(0, 120)),
  );
}

/** How far the page is wider than the viewport (0: nothing to scroll sideways). */
export async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

/** axe-core's script, injected into a page to scan it as it is now. */
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * The serious and critical accessibility violations axe-core finds on the page as it is now (WCAG 2.1 A and AA
 * rules, and axe's best practices), each as "rule: target — summary" so a failure names what to fix.
 */
export async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the debugging protocol: the portal's Content-Security-Policy (rightly) refuses inline scripts.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, options: object): Promise<AxeResult> } })
      .axe;
    interface AxeResult {
      violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[];
    }
    const result = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(' ')),
    }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.targets.join(', ')} — ${v.help}`);
}

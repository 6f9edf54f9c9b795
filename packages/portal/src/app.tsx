/**
 * The portal's shell: the signed-in layout with its navigation (the Readiness link counts the missing items) and
 * this session's tier (Trading / Read-only), the trading and password banners, or the login page; the
 * authenticator is a page of its own (it is a phone, not a session). After a login the portal lands on the page
 * asked for (`?next=`), else on Readiness while anything is missing, else on Trade.
 */
import { useEffect, useRef } from 'react';
import { api } from './api.js';
import { focusFragmentOrHeading, focusPageHeading, takeFocusAfterSignIn } from './focus.js';
import { AccountPage } from './pages/account.js';
import { ApiClientsPage, ConsentPage } from './pages/api-clients.js';
import { AuthenticatorPage } from './pages/authenticator.js';
import { LoginPage } from './pages/login.js';
import { ReadinessPage } from './pages/readiness.js';
import { SandboxPage } from './pages/sandbox.js';
import { PasswordChangeBanner, SecurityPage } from './pages/security.js';
import { TradePage } from './pages/trade.js';
import { landingAfterLogin, missingCount, ReadinessProvider, useReadiness } from './readiness-state.js';
import { Link, navigate, useLocation } from './router.js';
import { SessionProvider, useSession } from './session.js';
import { SkipLink } from './skip-link.js';
import { StreamProvider } from './stream.js';
import { TierStatus, TradingBanner, TradingStateProvider } from './trading-state.js';

const PAGES = [
  { path: '/trade', title: 'Trade' },
  { path: '/account', title: 'Account' },
  { path: '/security', title: 'Security' },
  { path: '/api-clients', title: 'API clients' },
  { path: '/readiness', title: 'Readiness' },
  { path: '/sandbox', title: 'Sandbox' },
] as const;

export function App() {
  const { path } = useLocation();
  if (path === '/authenticator') return <AuthenticatorPage />;
  return (
    <SessionProvider>
      <Shell />
    </SessionProvider>
  );
}

function Shell() {
  const { me, ended } = useSession();
  const { path } = useLocation();
  const consent = path === '/oauth2/authorize';

  useEffect(() => {
    const title = PAGES.find((p) => p.path === path)?.title ?? (consent ? 'Authorize an app' : 'Log in');
    document.title = `${title} · Gatehouse`;
  }, [path, consent]);

  // A new page takes the focus at its heading: after a move within the portal, and after signing in (a full load
  // leaves it at the top, where Tab reaches the skip link first). A link to a part of another page
  // (`/trade#watchlist`) focuses that part; a fragment within the page (the skip link) is the browser's to follow.
  const shown = useRef<string | null>(null);
  useEffect(() => {
    if (me === null || me === undefined) {
      shown.current = null;
      return;
    }
    if (shown.current === null ? takeFocusAfterSignIn() : shown.current !== path) {
      if (window.location.hash === '') focusPageHeading();
      else focusFragmentOrHeading();
    }
    shown.current = path;
  }, [me, path]);

  if (me === undefined) return <main className="loading" aria-busy="true" />;
  if (me === null) return <LoginPage />;

  const logout = async () => {
    await api('POST', '/v1/auth/logout', {});
    ended('You signed out.');
    navigate('/login');
  };

  return (
    <StreamProvider>
      <TradingStateProvider>
        <ReadinessProvider>
          <LandingAfterLogin />
          <SkipLink />
          <header className="topbar">
            <span className="brand">Gatehouse</span>
            <nav aria-label="Main">
              {/* The Sandbox page only where the gateway runs the failure sandbox. */}
              {PAGES.filter((p) => p.path !== '/sandbox' || me.sandbox === true).map((p) => (
                <Link key={p.path} to={p.path} current={path === p.path}>
                  {p.title}
                  {p.path === '/readiness' && <MissingCount />}
                </Link>
              ))}
            </nav>
            <span className="who">
              <TierStatus />
              {me.user.displayName}
              <button type="button" className="link" onClick={() => void logout()}>
                Sign out
              </button>
            </span>
          </header>
          <TradingBanner />
          <PasswordChangeBanner />
          <main>
            {consent ? (
              <ConsentPage />
            ) : path === '/account' ? (
              <AccountPage />
            ) : path === '/security' ? (
              <SecurityPage />
            ) : path === '/api-clients' ? (
              <ApiClientsPage />
            ) : path === '/sandbox' ? (
              <SandboxPage />
            ) : path === '/readiness' ? (
              <ReadinessPage />
            ) : path === '/' || path === '/login' ? (
              <p className="muted" aria-busy="true">
                Checking your access…
              </p>
            ) : (
              <TradePage />
            )}
          </main>
        </ReadinessProvider>
      </TradingStateProvider>
    </StreamProvider>
  );
}

/**
 * Where a login lands: the page it was asked to go to (`?next=`, a path of this portal), else the Readiness page
 * while an item is missing, else Trade. Waits for the readiness check; when it cannot be made, Trade.
 */
function LandingAfterLogin() {
  const { path, search } = useLocation();
  const { readiness } = useReadiness();
  useEffect(() => {
    if (path !== '/' && path !== '/login') return;
    const landing = landingAfterLogin(search.get('next'), readiness);
    if (landing !== undefined) navigate(landing);
  }, [path, search, readiness]);
  return null;
}

/** The number of missing items, beside the Readiness link (nothing while none is missing). */
function MissingCount() {
  const { readiness } = useReadiness();
  const count = missingCount(readiness);
  if (count === 0) return null;
  return (
    <span className="nav-count">
      {count}
      <span className="sr-only"> missing</span>
    </span>
  );
}

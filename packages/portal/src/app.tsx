/**
 * The portal's shell: the signed-in layout with its navigation and this session's tier (Trading / Read-only), the
 * trading and password banners, or the login
 * page; the authenticator is a page of its own (it is a phone, not a session).
 */
import { useEffect, useRef } from 'react';
import { api } from './api.js';
import { focusPageHeading, takeFocusAfterSignIn } from './focus.js';
import { AccountPage } from './pages/account.js';
import { ApiClientsPage, ConsentPage } from './pages/api-clients.js';
import { AuthenticatorPage } from './pages/authenticator.js';
import { LoginPage } from './pages/login.js';
import { SandboxPage } from './pages/sandbox.js';
import { PasswordChangeBanner, SecurityPage } from './pages/security.js';
import { TradePage } from './pages/trade.js';
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
  // leaves it at the top, where Tab reaches the skip link first).
  const shown = useRef<string | null>(null);
  useEffect(() => {
    if (me === null || me === undefined) {
      shown.current = null;
      return;
    }
    if (shown.current === null ? takeFocusAfterSignIn() : shown.current !== path) focusPageHeading();
    shown.current = path;
  }, [me, path]);

  useEffect(() => {
    if (me !== null && me !== undefined && (path === '/' || path === '/login')) {
      const next = new URLSearchParams(window.location.search).get('next');
      navigate(next?.startsWith('/') === true && !next.startsWith('//') ? next : '/trade');
    }
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
        <SkipLink />
        <header className="topbar">
          <span className="brand">Gatehouse</span>
          <nav aria-label="Main">
            {/* The Sandbox page only where the gateway runs the failure sandbox. */}
            {PAGES.filter((p) => p.path !== '/sandbox' || me.sandbox === true).map((p) => (
              <Link key={p.path} to={p.path} current={path === p.path}>
                {p.title}
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
          ) : (
            <TradePage />
          )}
        </main>
      </TradingStateProvider>
    </StreamProvider>
  );
}

/** A small history router: the gateway serves the same page at each of these paths. */
import { useEffect, useState } from 'react';

export type Route =
  | '/'
  | '/login'
  | '/security'
  | '/account'
  | '/trade'
  | '/api-clients'
  | '/sandbox'
  | '/readiness'
  | '/authenticator';

export function navigate(path: string): void {
  window.history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function useLocation(): { path: string; search: URLSearchParams } {
  const [location, setLocation] = useState(() => ({
    path: window.location.pathname,
    search: new URLSearchParams(window.location.search),
  }));
  useEffect(() => {
    const update = () =>
      setLocation({ path: window.location.pathname, search: new URLSearchParams(window.location.search) });
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return location;
}

export function Link({
  to,
  children,
  current,
}: {
  to: string;
  children: React.ReactNode;
  current?: boolean;
}) {
  return (
    <a
      href={to}
      aria-current={current ? 'page' : undefined}
      onClick={(event) => {
        if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

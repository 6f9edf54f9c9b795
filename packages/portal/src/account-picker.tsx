/** The account a page shows, chosen from the user's accounts (paper accounts first: the sandbox is the default). */
import { useId, useState } from 'react';
import { useSession } from './session.js';

export function useAccountChoice(): [string | null, React.ReactNode] {
  const { me } = useSession();
  const accounts = [...(me?.accounts ?? [])].sort((a, b) => Number(b.paper) - Number(a.paper));
  const [chosen, setChosen] = useState<string | null>(accounts[0]?.id ?? null);
  const id = useId();
  const picker = (
    <div className="field account-picker">
      <label htmlFor={id}>Account</label>
      <select id={id} value={chosen ?? ''} onChange={(e) => setChosen(e.target.value)}>
        {accounts.map((a) => (
          <option key={a.id} value={a.id}>
            {a.id} · {a.title}
            {a.paper ? ' (paper)' : ''}
            {a.role === 'owner' ? '' : ` · ${a.role}`}
          </option>
        ))}
      </select>
    </div>
  );
  return [chosen, picker];
}

/** The user's role on an account: what the portal offers (the gateway decides, whatever the page shows). */
export function useAccountRole(accountId: string | null): string | null {
  const { me } = useSession();
  return me?.accounts.find((a) => a.id === accountId)?.role ?? null;
}

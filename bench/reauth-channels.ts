/**
 * bench/reauth-channels.ts — the four channels as bench/reauth.ts's trials drive them, each over HTTP: whose session a
 * loss targets, how it places an order and takes trading, its fastest re-authentication after an expiry, and which
 * other session of the user takes trading over from it.
 */
import { GatehouseApiError, type SessionSupervisor } from '../packages/sdk/src/index.js';
import { marketOrders } from './lib.js';
import {
  codeOf,
  type DeviceSession,
  desktopLogin,
  deviceHeaders,
  phoneLogin,
  post,
  type WebSession,
  type WebUser,
  webLogin,
} from './reauth-clients.js';
import { ACCOUNT, type BenchGateway, type Clients, setUpClients, startReauthGateway } from './reauth-rig.js';

export const CHANNELS = ['api', 'desktop', 'mobile', 'web'] as const;
export const LOSSES = ['expiry', 'reset', 'takeover'] as const;
export type ChannelName = (typeof CHANNELS)[number];
export type Loss = (typeof LOSSES)[number];

/** One channel as the trials drive it: whose session a loss targets, how it orders, takes trading, logs in again. */
export interface Channel {
  /** The sandbox target of a loss. */
  target(): { type: 'session' | 'client'; id: string };
  /** Makes this channel's session the trading one before a trial (`loss` says which session: web expiry is fresh). */
  prepare(loss: Loss): Promise<void>;
  /** Places an order; resolves to `ok` or the refusal's code. */
  order(): Promise<string>;
  takeTrading(compete: boolean): Promise<void>;
  /** The channel's fastest re-authentication after an expiry. */
  logIn(): Promise<void>;
  /** Another session of the user takes trading over. */
  takenOver(): Promise<void>;
}

/** Order bodies: 1-share market orders with fresh clientOrderIds, buys and sells alternating (they all fill). */
class Trader {
  readonly #next = marketOrders(`reauth-${Math.random().toString(36).slice(2, 8)}`);
  body(): unknown {
    return JSON.parse(this.#next()) as unknown;
  }
}

function sessionChannel(
  url: string,
  trader: Trader,
  auth: { headers(method: string, path: string): Record<string, string> },
): Pick<Channel, 'order' | 'takeTrading'> {
  return {
    async order() {
      const path = `/v1/accounts/${ACCOUNT}/orders`;
      return codeOf(await post(`${url}${path}`, trader.body(), auth.headers('POST', path)));
    },
    async takeTrading(compete) {
      const path = '/v1/session/brokerage';
      const answer = await post(`${url}${path}`, { compete }, auth.headers('POST', path));
      if (answer.status !== 200) throw new Error(`brokerage: ${codeOf(answer)}`);
    },
  };
}

/** Takes trading with `compete` from a web session or a device session (the rival of a takeover). */
async function takeWith(url: string, as: WebSession | DeviceSession): Promise<void> {
  const path = '/v1/session/brokerage';
  const headers = 'cookie' in as ? as.headers : deviceHeaders(as, 'POST', `${url}${path}`);
  const answer = await post(`${url}${path}`, { compete: true }, headers);
  if (answer.status !== 200) throw new Error(`rival brokerage: ${JSON.stringify(answer.body)}`);
}

function deviceChannel(
  url: string,
  trader: Trader,
  initial: DeviceSession,
  login: () => Promise<DeviceSession>,
  rival: () => WebSession | DeviceSession,
): Channel {
  let session = initial;
  const parts = sessionChannel(url, trader, {
    headers: (method, path) => deviceHeaders(session, method, `${url}${path}`),
  });
  return {
    ...parts,
    target: () => ({ type: 'session', id: session.sessionId }),
    prepare: () => parts.takeTrading(true),
    async logIn() {
      session = await login();
    },
    takenOver: () => takeWith(url, rival()),
  };
}

/** The web channel: Alice's session for resets and takeovers; a fresh user per expiry (a TOTP code counts once). */
function webChannel(
  url: string,
  trader: Trader,
  clients: Clients,
  users: WebUser[],
  rival: () => DeviceSession,
): Channel {
  let session = clients.web;
  let user: WebUser | undefined;
  const parts = sessionChannel(url, trader, { headers: () => session.headers });
  return {
    ...parts,
    target: () => ({ type: 'session', id: session.sessionId }),
    async prepare(loss) {
      if (loss === 'expiry') {
        user = users.shift();
        if (user === undefined) throw new Error('out of web users');
        // The previous step's code: the login after the loss uses the current one, a later step.
        session = await webLogin(url, user, 'previous');
        if (session.device === '') throw new Error('the web login set no device cookie');
      } else session = clients.web;
      await parts.takeTrading(true);
    },
    async logIn() {
      if (user === undefined) throw new Error('no web user logged in');
      // The same browser as before the loss: its device cookie makes it a known device.
      session = await webLogin(url, user, 'current', session.device);
    },
    takenOver: () => takeWith(url, rival()),
  };
}

/** The API channel: the SDK's supervisor; an expired token is refreshed inside `placeOrder`. */
function apiChannel(
  supervisor: SessionSupervisor,
  clientId: string,
  mobile: () => DeviceSession,
  url: string,
) {
  const trader = new Trader();
  let refreshesBefore = 0;
  return {
    target: () => ({ type: 'client' as const, id: clientId }),
    async prepare() {
      await supervisor.acquireTrading({ compete: true });
      refreshesBefore = supervisor.stats.refreshes;
    },
    async order() {
      try {
        const placed = await supervisor.placeOrder(ACCOUNT, trader.body() as never);
        if (placed.status !== 'accepted') return placed.status;
        return 'ok';
      } catch (error) {
        if (error instanceof GatehouseApiError) return error.code;
        throw error;
      }
    },
    takeTrading: (compete: boolean) => supervisor.acquireTrading({ compete }),
    async logIn() {},
    takenOver: () => takeWith(url, mobile()),
    refreshed: () => supervisor.stats.refreshes - refreshesBefore,
  };
}

export interface Rig {
  gateway: BenchGateway;
  channels: Record<ChannelName, Channel & { refreshed?: () => number }>;
  /** Stops the program's supervisor and the gateway. */
  stop(): Promise<void>;
}

/** Starts the gateway (with `trials` web users to spare) and sets up every channel's client. */
export async function startRig(trials: number): Promise<Rig> {
  const gateway = await startReauthGateway(trials + 1);
  try {
    const { url } = gateway;
    const clients = await setUpClients(url);
    let mobile = clients.mobile;
    const trader = new Trader();
    const mobileChannel = deviceChannel(
      url,
      trader,
      clients.mobile,
      async () => {
        mobile = await phoneLogin(url, clients.phone);
        return mobile;
      },
      () => clients.web,
    );
    const channels = {
      api: apiChannel(clients.app.supervisor, clients.app.clientId, () => mobile, url),
      desktop: deviceChannel(
        url,
        trader,
        clients.desktop,
        () => desktopLogin(url, clients.station),
        () => mobile,
      ),
      mobile: mobileChannel,
      web: webChannel(url, trader, clients, [...gateway.users], () => mobile),
    };
    const stop = async () => {
      await clients.app.supervisor.stop().catch(() => {});
      await gateway.stop();
    };
    return { gateway, channels, stop };
  } catch (error) {
    await gateway.stop();
    throw error;
  }
}

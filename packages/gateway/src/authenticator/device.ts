/**
 * @module authenticator/device
 * The mobile device stand-in, usable by people (`gatehouse authenticator`) and by bots and tests: it keeps a P-256
 * key, enrols with an activation URI, opens its authenticated stream, acknowledges push requests and signs
 * decisions exactly as a phone app would.
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  type JsonWebKey,
  randomBytes,
  sign,
} from 'node:crypto';
import WebSocket from 'ws';
import { decisionMessage, type P256Jwk, streamAuthMessage } from '../devices/keys.js';
import type { PushMessage } from '../factors/push.js';

/** What a device keeps (in a 0600 file for the CLI). */
export interface DeviceIdentity {
  server: string;
  deviceId: string;
  name: string;
  /** The P-256 private key as a JWK; it never leaves the device. */
  privateKey: JsonWebKey;
  /** TOTP secrets the user added to this authenticator (`gatehouse authenticator totp add`). */
  totp?: { label: string; secret: string }[];
}

export function generateDeviceKey(): { privateKey: JsonWebKey; publicKey: P256Jwk } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = publicKey.export({ format: 'jwk' }) as JsonWebKey;
  return {
    privateKey: privateKey.export({ format: 'jwk' }) as JsonWebKey,
    publicKey: { kty: 'EC', crv: 'P-256', x: pub.x as string, y: pub.y as string },
  };
}

/** Signs with the device key: ECDSA P-256 / SHA-256, IEEE P1363 form (as WebCrypto), base64url. */
export function signWithDevice(privateKey: JsonWebKey, message: string): string {
  const key = createPrivateKey({ key: privateKey, format: 'jwk' });
  return sign('sha256', Buffer.from(message, 'utf8'), { key, dsaEncoding: 'ieee-p1363' }).toString(
    'base64url',
  );
}

/**
 * The server and code of an activation link: the app form `gatehouse://activate?server=…&code=…`, or the link the
 * Security page's QR code holds (`https://…/authenticator?activate=…`, whose origin is the server).
 */
export function parseActivationUri(uri: string): { server: string; code: string } {
  const refused =
    'not an activation URI (expected gatehouse://activate?server=…&code=… or https://…/authenticator?activate=…)';
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw new Error(refused);
  }
  if (/^https?:$/.test(parsed.protocol)) {
    const code = parsed.searchParams.get('activate');
    if (parsed.pathname !== '/authenticator' || code === null || code === '') throw new Error(refused);
    return { server: parsed.origin, code };
  }
  const server = parsed.searchParams.get('server');
  const code = parsed.searchParams.get('code');
  if (parsed.protocol !== 'gatehouse:' || server === null || code === null || !/^https?:\/\//.test(server)) {
    throw new Error(refused);
  }
  return { server: server.replace(/\/$/, ''), code };
}

/** Enrols a new device key with an activation URI; returns the identity to keep. */
export async function enrolDevice(
  activationUri: string,
  options: { name: string; platform: string; pin?: string },
): Promise<DeviceIdentity> {
  const { server, code } = parseActivationUri(activationUri);
  const { privateKey, publicKey } = generateDeviceKey();
  const response = await fetch(`${server}/v1/devices/mobile/activate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      activationCode: code,
      publicKey,
      name: options.name,
      platform: options.platform,
      ...(options.pin === undefined ? {} : { pin: options.pin }),
    }),
  });
  const body = (await response.json()) as { deviceId?: string; error?: { code: string; message: string } };
  if (response.status !== 200 || body.deviceId === undefined) {
    throw new Error(
      `activation failed: ${body.error?.code ?? response.status} ${body.error?.message ?? ''}`.trim(),
    );
  }
  return { server, deviceId: body.deviceId, name: options.name, privateKey };
}

/**
 * The `x-device-proof` for one request with a mobile bearer token: a compact JWS (ES256) over the method, the URL
 * without its query, the time, a unique id and the token's hash, signed by the device key.
 */
export function deviceProof(
  identity: Pick<DeviceIdentity, 'privateKey'>,
  method: string,
  url: string,
  token: string,
  now = Date.now(),
): string {
  const header = Buffer.from(JSON.stringify({ typ: 'device-proof+jwt', alg: 'ES256' })).toString('base64url');
  const claims = {
    htm: method,
    htu: url.split('?')[0],
    iat: Math.floor(now / 1000),
    jti: randomBytes(16).toString('base64url'),
    ath: createHash('sha256').update(token).digest('base64url'),
  };
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${header}.${payload}.${signWithDevice(identity.privateKey, `${header}.${payload}`)}`;
}

/** The stream URL with a fresh signed, single-use query. */
export function streamUrl(identity: DeviceIdentity, now = Date.now()): string {
  const nonce = randomBytes(16).toString('base64url');
  const sig = signWithDevice(identity.privateKey, streamAuthMessage(identity.deviceId, now, nonce));
  const base = identity.server.replace(/^http/, 'ws');
  const query = new URLSearchParams({ deviceId: identity.deviceId, ts: String(now), nonce, sig });
  return `${base}/v1/devices/stream?${query.toString()}`;
}

export interface DeviceStream {
  socket: WebSocket;
  /** Tells the server the request reached the device. */
  receipt(challengeId: string): void;
  /** Signs and sends a decision. */
  decide(push: PushMessage, decision: 'approve' | 'deny', number?: string): void;
  close(): void;
}

/** Opens the device stream; `onPush` is called for each push request (after the receipt is sent). */
export function connectDevice(
  identity: DeviceIdentity,
  handlers: {
    onPush: (push: PushMessage, stream: DeviceStream) => void;
    onMessage?: (message: unknown) => void;
    /** The device's clock, in ms (default: the wall clock). */
    now?: number;
  },
): Promise<DeviceStream> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(streamUrl(identity, handlers.now));
    const stream: DeviceStream = {
      socket,
      receipt: (challengeId) => socket.send(JSON.stringify({ type: 'receipt', challengeId })),
      decide: (push, decision, number = push.number) => {
        const signature = signWithDevice(
          identity.privateKey,
          decisionMessage(push.challengeId, decision, number),
        );
        socket.send(
          JSON.stringify({ type: 'decision', challengeId: push.challengeId, decision, number, signature }),
        );
      },
      close: () => socket.close(),
    };
    socket.once('unexpected-response', (_request, response) => {
      reject(new Error(`stream refused: HTTP ${response.statusCode}`));
    });
    socket.once('error', reject);
    socket.on('message', (raw: Buffer) => {
      const message = JSON.parse(raw.toString('utf8')) as { type: string };
      handlers.onMessage?.(message);
      if (message.type === 'ready') resolve(stream);
      if (message.type === 'push') {
        const push = message as PushMessage;
        stream.receipt(push.challengeId);
        handlers.onPush(push, stream);
      }
    });
  });
}

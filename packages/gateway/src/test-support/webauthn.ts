/**
 * A software WebAuthn authenticator for tests: it builds real attestation objects ("none" format) and assertions
 * signed with its own P-256 keys, as a security key would, so the server-side verification runs unmodified.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

interface Credential {
  id: Buffer;
  key: KeyObject;
  counter: number;
}

export class SoftwareAuthenticator {
  readonly #origin: string;
  readonly #rpId: string;
  readonly #backupEligible: boolean;
  /** Whether to advance the signature counter (hardware keys do; some passkeys report 0). */
  readonly #countUses: boolean;
  readonly credentials: Credential[] = [];

  constructor(options: { origin: string; rpId: string; backupEligible?: boolean; countUses?: boolean }) {
    this.#origin = options.origin;
    this.#rpId = options.rpId;
    this.#backupEligible = options.backupEligible ?? false;
    this.#countUses = options.countUses ?? true;
  }

  #authData(credential: Credential, attested: boolean): Buffer {
    // flags: UP (0x01) | UV (0x04) | BE (0x08) | BS (0x10) | AT (0x40)
    let flags = 0x01 | 0x04;
    if (this.#backupEligible) flags |= 0x08 | 0x10;
    if (attested) flags |= 0x40;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(credential.counter);
    const parts: Uint8Array[] = [sha256(this.#rpId), Buffer.from([flags]), counter];
    if (attested) {
      const jwk = credential.key.export({ format: 'jwk' });
      const cose = new Map<number, number | Uint8Array>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, new Uint8Array(Buffer.from(jwk.x as string, 'base64url'))],
        [-3, new Uint8Array(Buffer.from(jwk.y as string, 'base64url'))],
      ]);
      const idLength = Buffer.alloc(2);
      idLength.writeUInt16BE(credential.id.length);
      parts.push(Buffer.alloc(16), idLength, credential.id, Buffer.from(isoCBOR.encode(cose)));
    }
    return Buffer.concat(parts);
  }

  #clientData(type: string, challenge: string, origin = this.#origin): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** Answers registration options like `navigator.credentials.create()`. */
  create(options: { challenge: string }, overrides: { origin?: string } = {}) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const credential: Credential = { id: randomBytes(16), key: privateKey, counter: 0 };
    this.credentials.push(credential);
    const attestationObject = isoCBOR.encode(
      new Map<string, unknown>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', new Uint8Array(this.#authData({ ...credential, key: publicKey }, true))],
      ]) as Parameters<typeof isoCBOR.encode>[0],
    );
    return {
      id: b64url(credential.id),
      rawId: b64url(credential.id),
      type: 'public-key' as const,
      response: {
        clientDataJSON: b64url(this.#clientData('webauthn.create', options.challenge, overrides.origin)),
        attestationObject: b64url(attestationObject),
        transports: ['usb'],
      },
      clientExtensionResults: {},
    };
  }

  /** Answers authentication options like `navigator.credentials.get()`, with the first allowed credential. */
  get(
    options: { challenge: string },
    overrides: { origin?: string; counter?: number; credential?: Credential } = {},
  ) {
    const credential = overrides.credential ?? this.credentials[0];
    if (credential === undefined) throw new Error('no credential');
    if (this.#countUses) credential.counter += 1;
    const authData = this.#authData(
      { ...credential, counter: overrides.counter ?? credential.counter },
      false,
    );
    const clientData = this.#clientData('webauthn.get', options.challenge, overrides.origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientData)]), credential.key);
    return {
      id: b64url(credential.id),
      rawId: b64url(credential.id),
      type: 'public-key' as const,
      response: {
        clientDataJSON: b64url(clientData),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
      },
      clientExtensionResults: {},
    };
  }
}

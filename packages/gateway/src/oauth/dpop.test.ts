/**
 * DPoP proofs and keys on their own: the RFC 7638 thumbprint, the three algorithms FAPI 2.0 allows (PS256, ES256,
 * EdDSA), and the keys and algorithms it does not (short RSA, HMAC, `none`, private JWKs).
 */
import { constants, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ManualClock, MemoryReplayGuard } from '../core/index.js';
import { DpopVerifier, jwkThumbprint } from './dpop.js';

const NOW = Date.UTC(2026, 0, 5, 15);
const URL_ = 'https://gw.example/v1/session';

function verifier() {
  return new DpopVerifier({
    requireNonce: false,
    nonceKey: Buffer.alloc(32, 3),
    replay: new MemoryReplayGuard(new ManualClock(), 100),
  });
}

async function proof(alg: string, privateKey: KeyObject, jwk: Record<string, unknown>) {
  return new SignJWT({ htm: 'GET', htu: URL_, iat: Math.floor(NOW / 1000), jti: randomUUID() })
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: jwk as never })
    .sign(privateKey);
}

/** A PS256 proof signed directly (libraries refuse short RSA keys, which is the point of the test). */
function pssProof(privateKey: KeyObject, jwk: Record<string, unknown>) {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${part({ alg: 'PS256', typ: 'dpop+jwt', jwk })}.${part({ htm: 'GET', htu: URL_, iat: Math.floor(NOW / 1000), jti: randomUUID() })}`;
  const signature = sign('sha256', Buffer.from(input), {
    key: privateKey,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: 32,
  });
  return `${input}.${signature.toString('base64url')}`;
}

function pair(type: 'ec' | 'rsa' | 'ed25519', options: Record<string, unknown> = {}) {
  const generate = generateKeyPairSync as (
    t: string,
    o: unknown,
  ) => { privateKey: KeyObject; publicKey: KeyObject };
  const { privateKey, publicKey } = generate(type, options);
  return { privateKey, jwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown> };
}

describe('DPoP', () => {
  it('computes the RFC 7638 thumbprint (the RFC’s own example)', () => {
    const jwk = {
      kty: 'RSA',
      e: 'AQAB',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    expect(jwkThumbprint(jwk)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('accepts PS256, ES256 and EdDSA proofs, each bound to its key’s thumbprint', async () => {
    const v = verifier();
    for (const [alg, key] of [
      ['PS256', pair('rsa', { modulusLength: 2048 })],
      ['ES256', pair('ec', { namedCurve: 'P-256' })],
      ['EdDSA', pair('ed25519')],
    ] as const) {
      const jkt = await v.verify({
        proof: await proof(alg, key.privateKey, key.jwk),
        method: 'GET',
        url: URL_,
        now: NOW,
      });
      expect(jkt, alg).toBe(jwkThumbprint(key.jwk));
    }
  });

  it('refuses RSA under 2048 bits, a key that does not fit the algorithm, HMAC, none, and a private JWK', async () => {
    const v = verifier();
    const short = pair('rsa', { modulusLength: 1024 });
    const ec = pair('ec', { namedCurve: 'P-256' });
    const hmac = await new SignJWT({ htm: 'GET', htu: URL_, iat: Math.floor(NOW / 1000), jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: ec.jwk as never })
      .sign(Buffer.alloc(32, 1));
    const withPrivate = await proof('ES256', ec.privateKey, {
      ...ec.jwk,
      d: (ec.privateKey.export({ format: 'jwk' }) as { d: string }).d,
    });
    const cases: [string, string][] = [
      ['RSA 1024', pssProof(short.privateKey, short.jwk)],
      [
        'EC key claimed as EdDSA',
        (await proof('ES256', ec.privateKey, ec.jwk)).replace(
          /^[^.]+/,
          Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'dpop+jwt', jwk: ec.jwk })).toString('base64url'),
        ),
      ],
      ['HS256', hmac],
      ['private JWK', withPrivate],
    ];
    for (const [name, p] of cases) {
      await expect(v.verify({ proof: p, method: 'GET', url: URL_, now: NOW }), name).rejects.toThrow();
    }
  });
});

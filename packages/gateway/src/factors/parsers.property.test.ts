/**
 * Property tests: hostile bytes fed to every parser that sees untrusted input on the second-factor paths — device
 * keys and signatures, activation URIs, recovery codes, TOTP and SMS codes. None may throw, and none may accept.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateDeviceKey, parseActivationUri, signWithDevice } from '../authenticator/index.js';
import { ManualClock } from '../core/index.js';
import { decisionMessage, parseP256PublicJwk, verifyDeviceSignature } from '../devices/index.js';
import { matchTotpStep, normaliseRecoveryCode } from './index.js';

const { publicKey, privateKey } = generateDeviceKey();
const key = parseP256PublicJwk(publicKey)?.key;

describe('untrusted input', () => {
  it('a device key parser never throws and accepts only P-256 public keys', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const parsed = parseP256PublicJwk(value);
        expect(parsed === null || parsed.jwk.crv === 'P-256').toBe(true);
      }),
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (x, y) => {
          // Random coordinates are (almost always) not on the curve, and must be refused without throwing.
          const parsed = parseP256PublicJwk({
            kty: 'EC',
            crv: 'P-256',
            x: Buffer.from(x).toString('base64url'),
            y: Buffer.from(y).toString('base64url'),
          });
          expect(parsed === null || typeof parsed.jwk.x === 'string').toBe(true);
        },
      ),
    );
  });

  it('a signature check never throws and never accepts random bytes or strings', () => {
    expect(key).toBeDefined();
    const message = decisionMessage('psh_x', 'approve', '42');
    expect(
      verifyDeviceSignature(key as NonNullable<typeof key>, message, signWithDevice(privateKey, message)),
    ).toBe(true);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 128 }), (bytes) => {
        expect(
          verifyDeviceSignature(
            key as NonNullable<typeof key>,
            message,
            Buffer.from(bytes).toString('base64url'),
          ),
        ).toBe(false);
      }),
    );
    fc.assert(
      fc.property(fc.anything(), (value) => {
        expect(verifyDeviceSignature(key as NonNullable<typeof key>, message, value)).toBe(false);
      }),
    );
  });

  it('a signature over one decision does not verify another', () => {
    fc.assert(
      fc.property(fc.constantFrom('approve', 'deny'), fc.integer({ min: 10, max: 99 }), (decision, n) => {
        const signed = signWithDevice(privateKey, decisionMessage('psh_a', 'approve', '42'));
        const other = decisionMessage('psh_a', decision as 'approve' | 'deny', String(n));
        if (other !== decisionMessage('psh_a', 'approve', '42')) {
          expect(verifyDeviceSignature(key as NonNullable<typeof key>, other, signed)).toBe(false);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('the activation URI parser throws only its own clear error', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        try {
          const parsed = parseActivationUri(value);
          expect(parsed.server).toMatch(/^https?:\/\//);
        } catch (error) {
          expect((error as Error).message).toContain('activation URI');
        }
      }),
    );
  });

  it('the activation parser takes the QR code’s https link and the app’s gatehouse:// link alike', () => {
    expect(parseActivationUri('https://gatehouse.example/authenticator?activate=abc_DEF-123')).toEqual({
      server: 'https://gatehouse.example',
      code: 'abc_DEF-123',
    });
    expect(
      parseActivationUri('gatehouse://activate?server=https%3A%2F%2Fgatehouse.example%2F&code=abc_DEF-123'),
    ).toEqual({ server: 'https://gatehouse.example', code: 'abc_DEF-123' });
    expect(() => parseActivationUri('https://gatehouse.example/trade?activate=x')).toThrow(/activation URI/);
    expect(() => parseActivationUri('https://gatehouse.example/authenticator')).toThrow(/activation URI/);
  });

  it('recovery code and TOTP parsers never throw and only accept their exact shapes', () => {
    const clock = new ManualClock();
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (value) => {
        const code = normaliseRecoveryCode(value);
        expect(code === null || /^([0-9a-hjkmnp-tv-z]{24}|[0-9a-hjkmnp-tv-z]{16})$/.test(code)).toBe(true);
        const step = matchTotpStep('JBSWY3DPEHPK3PXP', value, clock.now(), 1);
        expect(step === null || /^\d{6}$/.test(value)).toBe(true);
      }),
    );
  });
});

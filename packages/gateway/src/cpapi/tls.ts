/**
 * @module cpapi/tls
 * A self-signed certificate for a listener that serves HTTPS as IBKR's gateway does (its `vertx.jks` is
 * self-signed too; research/ibkr-cpapi.md §1): made at start-up, kept in memory only, for `localhost`, `127.0.0.1`
 * and `::1`. Clients of the real gateway already skip verification for it (ibind's `IBIND_CACERT` defaults to
 * off; the npm `ibkr-client` turns `rejectUnauthorized` off for gateway URLs).
 */
import { generate } from 'selfsigned';

export async function selfSignedCertificate(): Promise<{ cert: string; key: string }> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** Test plumbing: the SDK's strategy for a bot registered in an in-process test gateway. */
import type { TestProgram } from '../../gateway/src/test-support/program.js';
import { PersonalClientAuth } from './auth.js';
import { newDpopKey } from './index.js';
import { importPrivateJwk } from './jose.js';

/** The bot's client credentials as `PersonalClientAuth` (its test key, imported into WebCrypto). */
export async function botAuth(bot: TestProgram, issuer: string): Promise<PersonalClientAuth> {
  const clientKey = await importPrivateJwk(bot.clientKey.privateKey.export({ format: 'jwk' }) as JsonWebKey);
  return new PersonalClientAuth({ clientId: bot.clientId, clientKey, issuer });
}

/** The supervisor options every test bot starts from: the gateway's address, the bot's credentials, a new DPoP key. */
export async function botOptions(bot: TestProgram, baseUrl: string, issuer: string) {
  return { baseUrl, auth: await botAuth(bot, issuer), dpopKey: await newDpopKey() };
}

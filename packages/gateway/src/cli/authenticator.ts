/**
 * @module cli/authenticator
 * `gatehouse authenticator`: the mobile authenticator stand-in for people and bots.
 *   enroll <activation-uri>   generate a device key (kept in a 0600 file) and enrol it
 *   run [--auto-approve|--auto-deny]   connect, show each push request with its context and number, decide
 *   totp / totp-add <otpauth-uri>   show codes for, or add, TOTP secrets kept by this authenticator
 */
import { hostname } from 'node:os';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import {
  connectDevice,
  defaultKeyFile,
  enrolDevice,
  loadIdentity,
  saveIdentity,
} from '../authenticator/index.js';
import { totpCode } from '../factors/index.js';
import type { PushMessage } from '../factors/push.js';

function describePush(push: PushMessage): string {
  const c = push.context;
  return [
    `Login request ${push.challengeId}`,
    `  channel: ${c.channel}   from: ${c.requestingDevice}`,
    `  address: ${c.ip} (network ${c.network ?? 'unknown'})   at: ${c.time}`,
    `  number on the login screen should be: ${push.number}`,
  ].join('\n');
}

export function registerAuthenticator(program: Command): void {
  const auth = program
    .command('authenticator')
    .description('the mobile authenticator stand-in (push approval, TOTP)');

  auth
    .command('enroll')
    .description(
      'enrol this authenticator with an activation link (gatehouse://activate?… or the QR code’s https link)',
    )
    .argument('<activation-uri>')
    .option('--file <path>', 'where to keep the device key', defaultKeyFile())
    .option('--name <name>', 'device name shown to the user', `gatehouse-cli@${hostname()}`)
    .option('--pin <digits>', 'PIN for logging in on this device (4–12 digits)')
    .action(async (uri: string, flags: { file: string; name: string; pin?: string }) => {
      const identity = await enrolDevice(uri, {
        name: flags.name,
        platform: 'cli',
        ...(flags.pin === undefined ? {} : { pin: flags.pin }),
      });
      saveIdentity(flags.file, identity);
      process.stdout.write(
        `enrolled device ${identity.deviceId} with ${identity.server}; key kept in ${flags.file}\n`,
      );
    });

  auth
    .command('run')
    .description('connect and answer push requests')
    .option('--file <path>', 'the device key file', defaultKeyFile())
    .option('--auto-approve', 'approve every request (tests and bots only)')
    .option('--auto-deny', 'deny every request')
    .action(async (flags: { file: string; autoApprove?: boolean; autoDeny?: boolean }) => {
      if (flags.autoApprove === true && flags.autoDeny === true)
        throw new Error('choose --auto-approve or --auto-deny');
      const identity = loadIdentity(flags.file);
      const prompt =
        flags.autoApprove === true || flags.autoDeny === true
          ? undefined
          : createInterface({ input: process.stdin, output: process.stdout });
      const queue: Promise<void>[] = [];
      const stream = await connectDevice(identity, {
        onPush: (push, s) => {
          process.stdout.write(`${describePush(push)}\n`);
          if (flags.autoApprove === true) return s.decide(push, 'approve');
          if (flags.autoDeny === true) return s.decide(push, 'deny');
          queue.push(
            (async () => {
              const answer = await prompt?.question(
                `Does your login screen show ${push.number}? Approve? [y/N] `,
              );
              s.decide(push, answer?.trim().toLowerCase() === 'y' ? 'approve' : 'deny');
            })(),
          );
          return undefined;
        },
        onMessage: (message) => {
          const m = message as { type: string; for?: string; challengeId?: string; error?: { code: string } };
          if (m.type === 'ack' && m.for === 'decision') process.stdout.write(`decided ${m.challengeId}\n`);
          if (m.type === 'error')
            process.stdout.write(`error ${m.error?.code ?? ''} for ${m.challengeId ?? '?'}\n`);
        },
      });
      process.stdout.write(`ready: device ${identity.deviceId} connected to ${identity.server}\n`);
      await new Promise<void>((resolve) => {
        stream.socket.once('close', () => resolve());
        process.once('SIGINT', () => stream.close());
        process.once('SIGTERM', () => stream.close());
      });
      prompt?.close();
      process.stdout.write('disconnected\n');
    });

  auth
    .command('totp')
    .description('show current codes for the TOTP secrets added to this authenticator')
    .option('--file <path>', 'the device key file', defaultKeyFile())
    .action((flags: { file: string }) => {
      const identity = loadIdentity(flags.file);
      const entries = identity.totp ?? [];
      if (entries.length === 0)
        process.stdout.write(
          'no TOTP secrets: add one with `gatehouse authenticator totp-add <otpauth-uri>`\n',
        );
      for (const entry of entries)
        process.stdout.write(`${totpCode(entry.secret, Date.now())}  ${entry.label}\n`);
    });
  auth
    .command('totp-add')
    .description('add a TOTP secret from an otpauth:// URI')
    .argument('<otpauth-uri>')
    .option('--file <path>', 'the device key file', defaultKeyFile())
    .action((uri: string, flags: { file: string }) => {
      const parsed = new URL(uri);
      const secret = parsed.searchParams.get('secret');
      if (parsed.protocol !== 'otpauth:' || secret === null)
        throw new Error('expected an otpauth://totp/… URI');
      const identity = loadIdentity(flags.file);
      const label = decodeURIComponent(parsed.pathname.replace(/^\/+/, ''));
      identity.totp = [...(identity.totp ?? []), { label, secret }];
      saveIdentity(flags.file, identity);
      process.stdout.write(`added ${label}\n`);
    });
}

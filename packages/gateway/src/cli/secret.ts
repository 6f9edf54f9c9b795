/**
 * @module cli/secret
 * `gatehouse secret rotate [--finish]`: the server secret's rotation (app/rotation.ts). Prints the ids of the
 * secrets and the end of the grace; a secret itself only where the operator must copy it into every node's
 * configuration (a configured ring), never for a ring file.
 */
import type { Command } from 'commander';
import { openStore } from '../app/index.js';
import { finishRotation, rotateSecret } from '../app/rotation.js';
import { type CommonFlags, configFromFlags } from './options.js';

type RotateFlags = CommonFlags & { finish?: boolean; everyNodeRestarted?: boolean };

export function registerSecretCommands(program: Command): void {
  const secret = program.command('secret').description('the server secret');
  secret
    .command('rotate')
    .description(
      'make a new server secret; the old one keeps verifying until secrets.rotationGraceMs has passed',
    )
    .option('--finish', 'end the grace now: re-seal stored secrets under the new one, drop the old ones')
    .option(
      '--every-node-restarted',
      'with --finish: every node runs the new ring (a SQLite gateway was restarted or is stopped); required',
    )
    .option('--db <url>', 'database: a SQLite file path or postgres://… (default ./data/gatehouse.db)')
    .option('--config <file>', 'JSON config file (default ./gatehouse.config.json when present)')
    .action(async (flags: RotateFlags) => {
      const config = configFromFlags(flags, { log: { level: 'warn' } });
      if (flags.finish === true) {
        const store = await openStore(config);
        try {
          const done = await finishRotation(config, store, {
            everyNodeRestarted: flags.everyNodeRestarted === true,
          });
          process.stdout.write(
            `finished: ${done.resealed} sealed values moved to the current secret, ${done.dropped} previous secrets dropped\n`,
          );
          if (done.unreadable > 0)
            process.stdout.write(
              `warning: ${done.unreadable} sealed values no kept secret opens were left\n`,
            );
          for (const [name, value] of Object.entries(done.settings ?? {}))
            process.stdout.write(`set on every node: ${name}=${value}\n`);
        } finally {
          await store.close();
        }
        return;
      }
      const rotation = rotateSecret(config, Date.now());
      process.stdout.write(
        `new secret ${rotation.currentId}; secret ${rotation.previousId} verifies until ${rotation.retiresAt}\n`,
      );
      if (rotation.kind === 'file') {
        process.stdout.write(`written to ${rotation.file}; restart the gateway to start using it\n`);
        return;
      }
      process.stdout.write('set on every node, then restart each one:\n');
      for (const [name, value] of Object.entries(rotation.settings))
        process.stdout.write(`${name}=${value}\n`);
      process.stdout.write(
        `once every node runs them, and before ${rotation.retiresAt}: gatehouse secret rotate --finish --every-node-restarted\n`,
      );
    });
}

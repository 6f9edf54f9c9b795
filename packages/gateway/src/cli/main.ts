/** @module cli/main — the `gatehouse` command line. */
import { Command } from 'commander';
import { registerClientCommands } from './client.js';
import { registerCommands, reportError } from './commands.js';

const program = new Command()
  .name('gatehouse')
  .description('Gatehouse: a brokerage access gateway with a paper-trading sandbox')
  .showHelpAfterError();
registerCommands(program);
registerClientCommands(program);

program.parseAsync(process.argv).catch(reportError);

/** @module cli/main — the `gatehouse` command line. */
import { Command } from 'commander';
import { registerCommands, reportError } from './commands.js';

const program = new Command()
  .name('gatehouse')
  .description('Gatehouse: a brokerage access gateway with a paper-trading sandbox')
  .showHelpAfterError();
registerCommands(program);

program.parseAsync(process.argv).catch(reportError);

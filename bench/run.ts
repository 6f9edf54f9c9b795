/**
 * `npm run bench -- <name>` runs bench/<name>.ts. Each benchmark prints progress to stderr and one JSON line of
 * figures last on stdout. Benchmarks are scripts, not tests: quote ratios against the baseline measured in the
 * same run, since absolute figures drift on a shared machine.
 */
import { existsSync } from 'node:fs';
import { resetsAwayFrom } from '../packages/gateway/src/test-support/resets.js';

const name = process.argv[2];
if (name === undefined || !/^[a-z0-9-]+$/.test(name)) {
  process.stderr.write(
    'usage: npm run bench -- <name>   (session | stream-capacity | login | orders | api | push | sdk | sqlite | cpapi | compare | sandbox | peers | cluster | reauth | soak)\n',
  );
  process.exit(2);
}
const file = new URL(`./${name}.ts`, import.meta.url);
if (!existsSync(file)) {
  process.stderr.write(`no benchmark bench/${name}.ts\n`);
  process.exit(2);
}
// The gateways a benchmark starts run on the real clock for up to its length (a soak's 30 minutes): their daily
// resets are put 12 h away, so none ends the brokerage sessions mid-run.
process.env.GATEHOUSE_BROKERAGE_RESETS ??= resetsAwayFrom(Date.now());
const bench = (await import(file.href)) as { main: () => Promise<Record<string, unknown>> };
const figures = await bench.main();
process.stdout.write(`${JSON.stringify(figures)}\n`);
// A benchmark that judges its own run (soak) lists why it failed in `failures`; the exit status tells a script.
const failures = figures.failures;
process.exit(Array.isArray(failures) && failures.length > 0 ? 1 : 0);

/**
 * @module sandbox/drill/junit
 * The report card as JUnit XML, so a bot's own CI fails on it: one `<testsuite>` per drill, one `<testcase>` per
 * graded item — a `<failure>` carrying the figure and the threshold when it failed, `<skipped>` when it did not
 * apply. Every text from the recording is escaped, and characters XML 1.0 cannot carry are replaced.
 */
import type { DrillReport, GradedItem } from '@gatehouse/protocol';

/** Text safe in XML 1.0 content and attribute values. */
export function xmlEscape(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the characters XML 1.0 forbids are what is replaced
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
      .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

/** The figure against its threshold, in words: `12 ms, at most 30000 ms`. */
export function measured(item: GradedItem): string {
  const unit = item.unit === 'count' || item.unit === 'yes/no' ? '' : ` ${item.unit}`;
  const figure = item.figure === null ? 'none' : `${item.figure}${unit}`;
  return `${figure}, ${item.comparison} ${item.threshold}${unit}`;
}

export function renderJunitReport(report: DrillReport): string {
  const seconds = Math.max(0, (Date.parse(report.endedAt) - Date.parse(report.startedAt)) / 1000);
  const { pass, fail, na } = report.summary;
  const tests = pass + fail + na;
  const suite = xmlEscape(report.name);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="gatehouse drill" tests="${tests}" failures="${fail}" errors="0" skipped="${na}" time="${seconds}">`,
    `  <testsuite name="${suite}" tests="${tests}" failures="${fail}" errors="0" skipped="${na}" timestamp="${xmlEscape(report.startedAt)}" time="${seconds}">`,
    '    <properties>',
    ...property('scenario', report.scenario?.name ?? ''),
    ...property('seed', report.scenario === null ? '' : String(report.scenario.seed)),
    ...property('clientId', report.subject.clientId),
    ...property('accountId', report.subject.accountId),
    '    </properties>',
  ];
  for (const item of report.items) {
    const name = xmlEscape(`${item.id}: ${item.title}`);
    lines.push(`    <testcase classname="drill.${suite}" name="${name}" time="0">`);
    if (item.verdict === 'fail')
      lines.push(
        `      <failure type="${item.check}" message="${xmlEscape(measured(item))}">${xmlEscape(`${measured(item)}\n${item.detail}`)}</failure>`,
      );
    else if (item.verdict === 'n/a')
      lines.push(`      <skipped message="${xmlEscape(`n/a: ${item.detail}`)}"/>`);
    lines.push(
      `      <system-out>${xmlEscape(`${measured(item)}: ${item.detail}`)}</system-out>`,
      '    </testcase>',
    );
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}

function property(name: string, value: string): string[] {
  return [`      <property name="${name}" value="${xmlEscape(value)}"/>`];
}

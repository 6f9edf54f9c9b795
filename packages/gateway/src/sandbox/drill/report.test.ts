/** The report card's outputs: the JSON against its published schema, JUnit XML a CI reads, the self-contained HTML. */
import { readFileSync, writeFileSync } from 'node:fs';
import { drillReportSchema } from '@gatehouse/protocol';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { goodBot, naiveBot, order, place } from './fixtures.js';
import { gradeRecording } from './grade.js';
import { htmlEscape, renderHtmlReport } from './html.js';
import { renderJunitReport, xmlEscape } from './junit.js';
import { reportJsonSchema } from './report-schema.js';

const SCHEMA_FILE = new URL('../../../../../docs/sandbox/report.schema.json', import.meta.url);
const HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>&amp;\u0007]]>';

/** A minimal XML reader: elements with attributes and text, entities decoded; throws on anything malformed. */
interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}
function parseXml(xml: string): XmlElement {
  const decode = (s: string) => {
    if (/&(?!(amp|lt|gt|quot|apos);)/.test(s)) throw new Error(`bad entity in ${s}`);
    return s
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&');
  };
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const root: XmlElement = { name: '#root', attributes: {}, children: [], text: '' };
  const stack = [root];
  const token = /<(\/?)([A-Za-z][\w.-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let match: RegExpExecArray | null;
  let consumed = 0;
  // biome-ignore lint/suspicious/noAssignInExpressions: a tokenizer loop
  while ((match = token.exec(body)) !== null) {
    consumed = token.lastIndex;
    const [, closing, name, attrs, selfClosing, text] = match;
    const top = stack[stack.length - 1] as XmlElement;
    if (text !== undefined) {
      if (/[<>]/.test(text)) throw new Error('raw markup in text');
      top.text += decode(text);
    } else if (closing === '/') {
      if (top.name !== name) throw new Error(`</${name}> closes <${top.name}>`);
      stack.pop();
    } else {
      const attributes: Record<string, string> = {};
      for (const a of (attrs ?? '').matchAll(/([\w:-]+)="([^"]*)"/g))
        attributes[a[1] as string] = decode(a[2] ?? '');
      const element = { name: name as string, attributes, children: [], text: '' };
      top.children.push(element);
      if (selfClosing !== '/') stack.push(element);
    }
  }
  if (consumed !== body.length || stack.length !== 1) throw new Error('not well-formed');
  return root.children[0] as XmlElement;
}
const all = (element: XmlElement, name: string): XmlElement[] => [
  ...element.children.filter((c) => c.name === name),
  ...element.children.flatMap((c) => all(c, name)),
];

function hostileReport() {
  const recording = naiveBot();
  place(recording, 140, HOSTILE, 'accepted', null, 'ord_h');
  recording.orders.push(order('ord_h', HOSTILE, 140, { side: 'SELL' }));
  return gradeRecording(recording, { scenario: { name: `naive ${HOSTILE}`, seed: 3 } });
}

describe('the report card outputs', () => {
  it('publishes the JSON Schema zod makes from the report (docs/sandbox/report.schema.json)', () => {
    const expected = reportJsonSchema();
    // GATEHOUSE_UPDATE_SCHEMA=1 rewrites it (then `npx biome format --write docs/sandbox/report.schema.json`).
    if (process.env.GATEHOUSE_UPDATE_SCHEMA === '1')
      writeFileSync(SCHEMA_FILE, `${JSON.stringify(expected, null, 2)}\n`);
    const written = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as unknown;
    expect(
      written,
      'docs/sandbox/report.schema.json is stale: GATEHOUSE_UPDATE_SCHEMA=1 npx vitest run',
    ).toEqual(expected);
  });

  it('writes JSON that validates against the published schema, and the schema refuses a broken report', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as object);
    for (const report of [gradeRecording(goodBot()), hostileReport()]) {
      const json = JSON.parse(JSON.stringify(report)) as unknown;
      expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
      expect(drillReportSchema.safeParse(json).success).toBe(true);
    }
    const broken = JSON.parse(JSON.stringify(gradeRecording(goodBot()))) as { items: { verdict: string }[] };
    (broken.items[0] as { verdict: string }).verdict = 'maybe';
    expect(validate(broken)).toBe(false);
  });

  it('writes JUnit XML with one testsuite, one testcase per item and a failure per failed item', () => {
    const report = hostileReport();
    const xml = renderJunitReport(report);
    const suites = parseXml(xml);
    expect(suites.name).toBe('testsuites');
    const [suite, ...more] = all(suites, 'testsuite');
    expect(more).toHaveLength(0);
    expect(suite?.attributes.name).toBe(`naive ${HOSTILE.replace('\u0007', '\ufffd')}`);
    const cases = all(suites, 'testcase');
    expect(cases).toHaveLength(report.items.length);
    const failures = all(suites, 'failure');
    expect(failures).toHaveLength(report.summary.fail);
    expect(Number(suite?.attributes.failures)).toBe(report.summary.fail);
    expect(Number(suite?.attributes.skipped)).toBe(report.summary.na);
    expect(all(suites, 'skipped')).toHaveLength(report.summary.na);
    const storm = cases.find((c) => c.attributes.name?.startsWith('request_rate@flt_token'));
    expect(storm?.children.find((c) => c.name === 'failure')?.attributes.message).toBe(
      '5.3 req/s, at most 2 req/s',
    );
    expect(all(parseXml(renderJunitReport(gradeRecording(goodBot()))), 'failure')).toHaveLength(0);
  });

  it('writes one self-contained HTML page with the SVG timeline, escaping everything from the recording', () => {
    const html = renderHtmlReport(hostileReport());
    expect(html).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(html).toContain('<style>');
    expect(html).not.toMatch(/<script|<link|src=["']?http|href=["']?http|@import|url\(/i);
    expect(html).not.toContain(HOSTILE);
    expect(html).not.toContain('<img');
    expect(html).toContain(htmlEscape(HOSTILE));
    // The timeline has every lane and a mark per placement.
    for (const lane of ['Session', 'Faults', 'Orders', 'Stream &amp; safety', 'Requests/s'])
      expect(html).toContain(lane);
    expect(html.match(/<circle cx="[\d.]+" cy="[\d.]+" r="4"/g)).toHaveLength(
      hostileReport().recording.placements.length,
    );
    expect(html).toContain('FAIL');
    expect(renderHtmlReport(gradeRecording(goodBot()))).toContain('<span class="badge pass">PASS</span>');
  });

  it('escapes XML and HTML text', () => {
    expect(xmlEscape(`<a b="c">&'\u0001`)).toBe('&lt;a b=&quot;c&quot;&gt;&amp;&apos;\ufffd');
    expect(htmlEscape(`<a b="c">&'`)).toBe('&lt;a b=&quot;c&quot;&gt;&amp;&#39;');
  });
});

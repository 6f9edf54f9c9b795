/**
 * @module sandbox/drill/report-schema
 * The JSON Schema of the report card `gatehouse drill` writes (`docs/sandbox/report.schema.json`), made by zod from
 * `drillReportSchema` in `@gatehouse/protocol`, so the document and the code cannot drift (a test compares them).
 */
import { drillReportSchema } from '@gatehouse/protocol';
import { z } from 'zod';

/** Where the schema is published, as a report's `$schema` may name it. */
export const REPORT_SCHEMA_PATH = 'docs/sandbox/report.schema.json';

export function reportJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(drillReportSchema, {
    io: 'output',
    target: 'draft-2020-12',
    unrepresentable: 'any',
  });
  return {
    ...schema,
    title: 'Gatehouse drill report card',
    description:
      'What the gateway saw of a bot during a drill and how it was graded: per fault and overall items, each pass, fail or n/a with its figure and threshold (docs/sandbox.md#report-card).',
  };
}

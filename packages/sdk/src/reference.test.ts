/**
 * The SDK's reference (TypeDoc, as `npm run docs` builds it from typedoc.json): every exported class, interface,
 * type, function, method and accessor has a description, and fields typed by the protocol's named types show the
 * name (`GatehouseApiError.code` is `ErrorCode`, not the union of its seventy-odd codes).
 */
import { readFileSync } from 'node:fs';
import { Application, type DeclarationReflection, LogLevel, ReflectionKind } from 'typedoc';
import { describe, expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url).pathname;

describe('the SDK reference', () => {
  it('documents every exported symbol and names the protocol’s types', async () => {
    const config = JSON.parse(readFileSync(`${root}typedoc.json`, 'utf8')) as Record<string, unknown>;
    const warnings: string[] = [];
    const app = await Application.bootstrap({
      ...config,
      $schema: undefined,
      entryPoints: (config.entryPoints as string[]).map((p) => `${root}${p}`),
      tsconfig: `${root}${config.tsconfig as string}`,
      readme: 'none',
      logLevel: LogLevel.Warn,
    } as never);
    const log = app.logger.log.bind(app.logger);
    app.logger.log = (message, level) => {
      if (level >= LogLevel.Warn) warnings.push(String(message));
      log(message, level);
    };
    const project = await app.convert();
    if (project === undefined) throw new Error(`TypeDoc could not convert: ${warnings.join('\n')}`);
    app.validate(project);
    expect(warnings).toEqual([]);
    const apiError = project.getChildByName(['index', 'GatehouseApiError']) as DeclarationReflection;
    expect(apiError?.kind).toBe(ReflectionKind.Class);
    expect((apiError.getChildByName('code') as DeclarationReflection).type?.toString()).toBe('ErrorCode');
    const oauthError = project.getChildByName(['index', 'OAuthApiError']) as DeclarationReflection;
    expect((oauthError.getChildByName('error') as DeclarationReflection).type?.toString()).toBe(
      'OAuthErrorCode',
    );
    const supervisor = project.getChildByName(['index', 'SessionSupervisor']) as DeclarationReflection;
    for (const name of ['tickle', 'requestWithStatus', 'quote', 'openOrders', 'portfolio', 'cancelAll'])
      expect(
        (supervisor.getChildByName(name) as DeclarationReflection).signatures?.[0]?.comment?.summary.length,
        name,
      ).toBeGreaterThan(0);
  }, 120_000);
});

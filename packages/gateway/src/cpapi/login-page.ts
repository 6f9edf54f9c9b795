/**
 * @module cpapi/login-page
 * The listener's own login page, `/sso/Login`, as IBKR's gateway serves one (research/ibkr-cpapi.md §1, §8): the
 * user's password, then any second factor the `cpapi` channel allows that works without the portal's scripts
 * (authenticator-app code, SMS code, recovery code, push approval with number matching); the page ends with
 * "Client login succeeds", the text IBeam waits for. Security keys are not offered here: a WebAuthn credential is
 * bound to the portal's relying-party id, which a loopback listener on another port is not.
 *
 * Plain HTML forms, no script (CSP `default-src 'none'`). Between the steps the browser holds the login id in an
 * HttpOnly, SameSite=Strict cookie scoped to `/sso`, never in a URL; a POST whose `Origin` is another site is
 * refused before it gets here (`cpapi/face` `browserRefusal`). Every step is the login service's own (`login/`), under its brute-force limits and audit.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatehouseError } from '../core/index.js';
import type { FactorType } from '../factors/index.js';
import { normaliseUsername } from '../identity/index.js';
import {
  type CodeFactors,
  completeLoginFactor,
  type LoginCompletion,
  type LoginLimits,
  type LoginTransactions,
  type PasswordChecks,
  type PushLogins,
  pollLogin,
  sendLoginSms,
  startLogin,
  startPushLogin,
} from '../login/index.js';
import type { HeldLogin } from './holder.js';

export type LoginPageDeps = LoginLimits &
  LoginTransactions &
  LoginCompletion &
  PasswordChecks &
  CodeFactors &
  PushLogins;

export interface LoginPageRoutesDeps {
  held: HeldLogin;
  page: LoginPageDeps;
}

/** The text IBKR's page shows on success, which IBeam's driver waits for (ibeam `var.py` `SUCCESS_EL_TEXT`). */
export const LOGIN_SUCCESS_TEXT = 'Client login succeeds';
const COOKIE = 'gh_cpapi_login';
const CODE_FACTORS = new Set<FactorType>(['totp', 'sms', 'recovery_code']);
const FACTOR_LABELS: Partial<Record<FactorType, string>> = {
  totp: 'Code from your authenticator app',
  sms: 'Code sent by SMS',
  recovery_code: 'Recovery code',
};

export async function loginPageRoutes(app: FastifyInstance, deps: LoginPageRoutesDeps): Promise<void> {
  const { page, held } = deps;
  const client = (request: FastifyRequest) => ({
    ip: request.ip,
    userAgent: String(request.headers['user-agent'] ?? '').slice(0, 256),
  });

  app.get('/sso/Login', async (_request, reply) => html(reply, passwordForm()));

  app.post('/sso/Login', async (request, reply) => {
    const form = fields(request.body);
    // A listener configured for a user holds that user's session only: its page logs no one else in.
    const pinned = held.pinnedUsername;
    if (pinned !== undefined && normaliseUsername(form.username ?? '') !== normaliseUsername(pinned))
      return html(reply, passwordForm(`This listener logs in ${pinned} only.`), 403);
    try {
      const started = await startLogin(
        page,
        { username: form.username ?? '', password: form.password ?? '', channel: 'cpapi' },
        client(request),
      );
      setLoginCookie(reply, started.loginId);
      return html(reply, factorForms(started.factors.map((f) => f.type)));
    } catch (error) {
      return failed(reply, error, passwordForm());
    }
  });

  app.post('/sso/Login/factor', async (request, reply) => {
    const loginId = loginCookie(request);
    const form = fields(request.body);
    const type = form.type as FactorType;
    if (loginId === undefined || !CODE_FACTORS.has(type))
      return html(reply, passwordForm('Start again.'), 400);
    try {
      const done = await completeLoginFactor(
        page,
        loginId,
        { type: type as 'totp' | 'sms' | 'recovery_code', code: (form.code ?? '').trim() },
        client(request),
      );
      await held.adopt(done);
      clearLoginCookie(reply);
      return html(reply, succeeded());
    } catch (error) {
      return failed(reply, error, factorForms([type]));
    }
  });

  app.post('/sso/Login/sms', async (request, reply) => {
    const loginId = loginCookie(request);
    if (loginId === undefined) return html(reply, passwordForm('Start again.'), 400);
    try {
      await sendLoginSms(page, loginId, client(request));
      return html(reply, factorForms(['sms'], 'A code was sent by SMS.'));
    } catch (error) {
      return failed(reply, error, factorForms(['sms']));
    }
  });

  app.post('/sso/Login/push', async (request, reply) => {
    const loginId = loginCookie(request);
    if (loginId === undefined) return html(reply, passwordForm('Start again.'), 400);
    try {
      const pushed = await startPushLogin(page, loginId, client(request));
      return html(reply.header('refresh', '2; url=/sso/Login/wait'), waiting(pushed.number));
    } catch (error) {
      return failed(reply, error, passwordForm());
    }
  });

  // The push page reloads itself every 2 s (a `Refresh` header: no script); each load looks once, without waiting.
  app.get('/sso/Login/wait', async (request, reply) => {
    const loginId = loginCookie(request);
    if (loginId === undefined) return html(reply, passwordForm('Start again.'), 400);
    try {
      const state = await pollLogin(page, loginId, client(request), 0);
      if (state.status === 'authenticated') {
        await held.adopt(state);
        clearLoginCookie(reply);
        return html(reply, succeeded());
      }
      if (state.status === 'push_pending' && state.fallbackFactors === undefined)
        return html(reply.header('refresh', '2; url=/sso/Login/wait'), waiting(state.number));
      const factors = state.status === 'push_pending' ? (state.fallbackFactors ?? []) : state.factors;
      return html(
        reply,
        factorForms(
          factors.map((f) => f.type),
          'The push was not answered; use another factor.',
        ),
      );
    } catch (error) {
      return failed(reply, error, passwordForm());
    }
  });
}

function fields(body: unknown): Record<string, string | undefined> {
  if (typeof body !== 'object' || body === null) return {};
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(body)) if (typeof value === 'string') out[key] = value;
  return out;
}

function loginCookie(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie ?? '';
  for (const part of header.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === COOKIE) return rest.join('=') || undefined;
  }
  return undefined;
}

function setLoginCookie(reply: FastifyReply, loginId: string): void {
  reply.header('set-cookie', `${COOKIE}=${loginId}; Path=/sso; HttpOnly; SameSite=Strict; Max-Age=600`);
}

function clearLoginCookie(reply: FastifyReply): void {
  reply.header('set-cookie', `${COOKIE}=; Path=/sso; HttpOnly; SameSite=Strict; Max-Age=0`);
}

function failed(reply: FastifyReply, error: unknown, again: string): FastifyReply {
  if (!(error instanceof GatehouseError)) throw error;
  const retryAfterMs = error.details?.retryAfterMs;
  if (typeof retryAfterMs === 'number') reply.header('retry-after', Math.ceil(retryAfterMs / 1000));
  return html(
    reply,
    `<p class="error" role="alert">${escapeHtml(error.message)} (${error.code})</p>${again}`,
    error.status,
  );
}

function html(reply: FastifyReply, body: string, status = 200): FastifyReply {
  return reply
    .code(status)
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    )
    .header('x-frame-options', 'DENY')
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Gatehouse — Client Portal login</title>` +
        `<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}label,input,button{display:block;margin:.4rem 0}input{width:100%;padding:.4rem}.error{color:#a00}</style>` +
        `</head><body><h1>Gatehouse login</h1>${body}</body></html>`,
    );
}

function passwordForm(note?: string): string {
  return `${note === undefined ? '' : `<p>${escapeHtml(note)}</p>`}<form method="post" action="/sso/Login">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="submitForm">Log in</button></form>`;
}

function factorForms(factors: FactorType[], note?: string): string {
  const parts: string[] = note === undefined ? [] : [`<p>${escapeHtml(note)}</p>`];
  for (const type of factors) {
    if (type === 'push')
      parts.push(
        `<form method="post" action="/sso/Login/push"><button type="submit" id="push">Approve on my phone</button></form>`,
      );
    if (type === 'sms')
      parts.push(
        `<form method="post" action="/sso/Login/sms"><button type="submit" id="send-sms">Send me a code by SMS</button></form>`,
      );
    const label = FACTOR_LABELS[type];
    if (label !== undefined)
      parts.push(`<form method="post" action="/sso/Login/factor"><input type="hidden" name="type" value="${type}">
<label for="code-${type}">${escapeHtml(label)}</label><input id="code-${type}" name="code" autocomplete="one-time-code" required>
<button type="submit">Continue</button></form>`);
  }
  if (parts.length === 0) parts.push('<p>No second factor of this account works on this page.</p>');
  return parts.join('\n');
}

function waiting(number: string): string {
  return `<p>Approve the login on your phone: pick <strong id="number">${escapeHtml(number)}</strong>.</p>
<p><a href="/sso/Login/wait">Check now</a></p>`;
}

function succeeded(): string {
  return `<p id="success">${LOGIN_SUCCESS_TEXT}</p>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

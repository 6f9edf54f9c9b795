/**
 * bench/reauth.ts — the time from losing trading to the next accepted order, per channel, by the channel's fastest
 * way back, end to end over HTTP against a gateway in its own process (bench/reauth-rig.ts: the failure sandbox on,
 * Alice's clients on every channel set up beforehand as a person sets them up; bench/reauth-channels.ts: each channel
 * as a trial drives it; bench/reauth-clients.ts: the logins).
 *
 * Three ways of losing trading, each done to each channel's session, the clock started when it is done:
 * - `expiry`: the session ends (the sandbox's `session.idle_expiry`; `session.absolute_expiry` on the desktop, a
 *   workstation left overnight), or, for a program, its access token (`token.expired_early`);
 * - `reset`: the daily reset ends the session's trading (`reset.daily`); the session stays logged in;
 * - `takeover`: another live session of the same user takes trading (`POST /v1/session/brokerage` with compete: Alice's
 *   phone for her web, desktop and API sessions, her web session for the phone).
 *
 * Then the client does what the refusal says, as fast as the channel allows, until an order is accepted (a 1-share
 * market order on `DU1000001`, `201`); every trial first checks the refusal is the expected one:
 * - after an expiry a person's channel logs in again — `web`: password + TOTP (argon2id included; a fresh user each
 *   trial, logged in with the previous step's code before the loss, since a code is accepted once); `desktop`: the
 *   password + a statement signed by the pre-validated workstation key; `mobile`: the device key and PIN — then takes
 *   trading (`POST /v1/session/brokerage`) and places the order again. A program (the SDK's `SessionSupervisor`,
 *   an app with refresh tokens and DPoP) is refused `INVALID_TOKEN`, refreshes (refresh-token grant, client
 *   assertion and DPoP proof) and sends the order again — all inside one `placeOrder`, as the SDK does it;
 * - after a reset or a takeover no login is needed: the client takes trading back (compete after a takeover) and
 *   places the order again.
 *
 * The headline figures are the re-authentication paths (after an expiry): `apiRefreshP99Ms` (target < 5 ms),
 * `desktopP99Ms` (< 50 ms), `mobileP99Ms` (< 50 ms), `webTotpP99Ms` (< 60 ms); `byLoss` gives every channel × loss.
 * Trials are interleaved (one of every path per round), after one warm-up round. `BENCH_TRIALS` (default 200) rounds.
 *
 * The floor in the same run, once per round: an accepted order from a web session that holds trading (`orderP50Ms`,
 * `orderP99Ms`); every way back ends with one such order. And per trial the CPU time the gateway's process (every
 * thread, from /proc) and the client spent in it (`cpuP99Ms`, `byLoss.*.cpuP50Ms`; the gateway's share
 * `byLoss.*.gatewayCpuP50Ms`), which other work on a shared machine stretches far less than wall time.
 *
 * Prints {apiRefreshP99Ms, desktopP99Ms, mobileP99Ms, webTotpP99Ms, …P50Ms, samples, orderP50Ms, orderP99Ms, pass,
 * passed, targets, cpuP99Ms, byLoss, lossKinds}.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { log, median, percentile, round } from './lib.js';
import { CHANNELS, type ChannelName, LOSSES, type Loss, type Rig, startRig } from './reauth-channels.js';
import { codeOf, post } from './reauth-clients.js';
import { ADMIN_TOKEN } from './reauth-rig.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 200);

/** What each loss is, per channel (the output's `lossKinds`). */
const LOSS_KINDS: Record<ChannelName, Record<Loss, string>> = {
  api: { expiry: 'token.expired_early', reset: 'reset.daily', takeover: 'phone takes trading' },
  desktop: { expiry: 'session.absolute_expiry', reset: 'reset.daily', takeover: 'phone takes trading' },
  mobile: { expiry: 'session.idle_expiry', reset: 'reset.daily', takeover: 'web session takes trading' },
  web: { expiry: 'session.idle_expiry', reset: 'reset.daily', takeover: 'phone takes trading' },
};

/** Targets in ms for the re-authentication paths. */
export const TARGETS = { apiRefresh: 5, desktop: 50, mobile: 50, webTotp: 60 } as const;

/** What a refused order says after each loss (a program's expired token is refreshed inside the SDK's call). */
const REFUSAL: Record<Loss, string> = {
  expiry: 'SESSION_EXPIRED',
  reset: 'SESSION_RESET',
  takeover: 'SESSION_COMPETING',
};

/** An operator's sandbox action on the target; resolves to the fault's id once it is done. */
async function sandbox(url: string, kind: string, target: { type: string; id: string }): Promise<string> {
  const answer = await post(
    `${url}/v1/admin/sandbox/faults`,
    { kind, target },
    { authorization: `Bearer ${ADMIN_TOKEN}` },
  );
  if (answer.status !== 201) throw new Error(`inject ${kind}: ${codeOf(answer)}`);
  return answer.body.id as string;
}

/** Clears a fault, so that the sandbox's registry holds only the current trial's. */
async function clearFault(url: string, id: string): Promise<void> {
  await fetch(`${url}/v1/admin/sandbox/faults?id=${id}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
}

/**
 * CPU time so far (ns) of the gateway's process — every thread's, from /proc (argon2id runs off the main thread) —
 * and of this process (the client: signing, HTTP, parsing).
 */
function cpuNs(pid: number): { gateway: number; client: number } {
  let gateway = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      gateway += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  const client = process.cpuUsage();
  return { gateway, client: (client.user + client.system) * 1000 };
}

/** A trial's wall time, and the CPU time the gateway and the client spent in it (all ms). */
export interface Timing {
  ms: number;
  cpuMs: number;
  gatewayCpuMs: number;
}

/**
 * The way back after `loss`: an order, refused as the loss makes it refused (checked), then what the refusal says to
 * do, until an order is accepted. Throws when an answer is not the expected one — an order accepted at once means the
 * loss never happened, and nothing was measured.
 */
export async function wayBack(rig: Rig, name: ChannelName, loss: Loss): Promise<void> {
  const channel = rig.channels[name];
  const first = await channel.order();
  if (name === 'api' && loss === 'expiry') {
    // The SDK was refused INVALID_TOKEN, refreshed, and sent the order again within this one call.
    if (first !== 'ok' || channel.refreshed?.() !== 1)
      throw new Error(`api after a token expiry: ${first}, ${channel.refreshed?.()} refreshes`);
    return;
  }
  if (first !== REFUSAL[loss]) throw new Error(`${name} after ${loss}: ${first}, not ${REFUSAL[loss]}`);
  if (loss === 'expiry') await channel.logIn();
  await channel.takeTrading(loss !== 'reset');
  const again = await channel.order();
  if (again !== 'ok') throw new Error(`${name} after ${loss}: the next order answered ${again}`);
}

/** One trial: the loss, then the way back to an accepted order, timed from the loss on. */
export async function trial(rig: Rig, name: ChannelName, loss: Loss): Promise<Timing> {
  const { url } = rig.gateway;
  const channel = rig.channels[name];
  await channel.prepare(loss);
  const fault =
    loss === 'takeover' ? undefined : await sandbox(url, LOSS_KINDS[name][loss], channel.target());
  if (loss === 'takeover') await channel.takenOver();
  const cpu0 = cpuNs(rig.gateway.pid);
  const t0 = performance.now();
  await wayBack(rig, name, loss);
  const ms = performance.now() - t0;
  const cpu1 = cpuNs(rig.gateway.pid);
  if (fault !== undefined) await clearFault(url, fault);
  const gatewayCpuMs = (cpu1.gateway - cpu0.gateway) / 1e6;
  return { ms, cpuMs: gatewayCpuMs + (cpu1.client - cpu0.client) / 1e6, gatewayCpuMs };
}

type PerPath = Record<ChannelName, Record<Loss, number[]>>;
/**
 * Wall times per channel and loss; `order` is the baseline (one accepted order from a web session that holds
 * trading); `cpu` the CPU times per channel and loss (gateway and client), `gatewayCpu` the gateway's share.
 */
type Times = PerPath & { order: number[]; cpu: PerPath; gatewayCpu: PerPath };

const perPath = () =>
  Object.fromEntries(
    CHANNELS.map((c) => [c, Object.fromEntries(LOSSES.map((l) => [l, [] as number[]]))]),
  ) as PerPath;

/** The baseline trial: the web channel's standing session takes trading (untimed), then one order is timed. */
async function orderTrial(rig: Rig): Promise<number> {
  const web = rig.channels.web;
  await web.prepare('reset');
  const t0 = performance.now();
  const answer = await web.order();
  const ms = performance.now() - t0;
  if (answer !== 'ok') throw new Error(`baseline order: ${answer}`);
  return ms;
}

/** `rounds` rounds, each a trial of every channel × loss in turn; the first round is a warm-up when `warmUp`. */
export async function measure(rig: Rig, rounds: number, warmUp = true): Promise<Times> {
  const times: Times = { ...perPath(), order: [], cpu: perPath(), gatewayCpu: perPath() };
  for (let r = warmUp ? 0 : 1; r <= rounds; r += 1) {
    const orderMs = await orderTrial(rig);
    if (r > 0) times.order.push(orderMs);
    for (const name of CHANNELS)
      for (const loss of LOSSES) {
        const { ms, cpuMs, gatewayCpuMs } = await trial(rig, name, loss);
        if (r === 0) continue;
        times[name][loss].push(ms);
        times.cpu[name][loss].push(cpuMs);
        times.gatewayCpu[name][loss].push(gatewayCpuMs);
      }
    if (r % 25 === 0 && r > 0) log(`round ${r} of ${rounds}`);
  }
  return times;
}

const stat = (values: number[]) => ({
  p50Ms: round(median(values), 2),
  p99Ms: round(percentile(values, 99), 2),
});

/** The printed figures from measured times. */
export function figures(times: Times) {
  const headline = {
    apiRefresh: stat(times.api.expiry),
    desktop: stat(times.desktop.expiry),
    mobile: stat(times.mobile.expiry),
    webTotp: stat(times.web.expiry),
  };
  const pass = Object.fromEntries(
    Object.entries(headline).map(([k, v]) => [k, v.p99Ms < TARGETS[k as keyof typeof TARGETS]]),
  ) as Record<keyof typeof TARGETS, boolean>;
  return {
    apiRefreshP99Ms: headline.apiRefresh.p99Ms,
    desktopP99Ms: headline.desktop.p99Ms,
    mobileP99Ms: headline.mobile.p99Ms,
    webTotpP99Ms: headline.webTotp.p99Ms,
    apiRefreshP50Ms: headline.apiRefresh.p50Ms,
    desktopP50Ms: headline.desktop.p50Ms,
    mobileP50Ms: headline.mobile.p50Ms,
    webTotpP50Ms: headline.webTotp.p50Ms,
    samples: times.api.expiry.length,
    /** The floor in the same run: one accepted order over HTTP from a session that holds trading. */
    orderP50Ms: stat(times.order).p50Ms,
    orderP99Ms: stat(times.order).p99Ms,
    pass,
    passed: Object.values(pass).every(Boolean),
    targets: TARGETS,
    /** CPU time per way back (gateway and client), which other work on a shared machine does not stretch. */
    cpuP99Ms: {
      apiRefresh: stat(times.cpu.api.expiry).p99Ms,
      desktop: stat(times.cpu.desktop.expiry).p99Ms,
      mobile: stat(times.cpu.mobile.expiry).p99Ms,
      webTotp: stat(times.cpu.web.expiry).p99Ms,
    },
    byLoss: Object.fromEntries(
      CHANNELS.map((c) => [
        c,
        Object.fromEntries(
          LOSSES.map((l) => {
            const cpu = stat(times.cpu[c][l]);
            const gatewayCpu = stat(times.gatewayCpu[c][l]);
            return [
              l,
              {
                ...stat(times[c][l]),
                cpuP50Ms: cpu.p50Ms,
                cpuP99Ms: cpu.p99Ms,
                gatewayCpuP50Ms: gatewayCpu.p50Ms,
                gatewayCpuP99Ms: gatewayCpu.p99Ms,
              },
            ];
          }),
        ),
      ]),
    ),
    lossKinds: LOSS_KINDS,
  };
}

export async function main() {
  const rig = await startRig(TRIALS);
  try {
    const started = performance.now();
    const times = await measure(rig, TRIALS);
    log(`${TRIALS} rounds in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const out = figures(times);
    for (const name of CHANNELS)
      log(
        `${name}: ${LOSSES.map((l) => `${l} p50 ${out.byLoss[name]?.[l]?.p50Ms} / p99 ${out.byLoss[name]?.[l]?.p99Ms} ms (CPU p50 ${out.byLoss[name]?.[l]?.cpuP50Ms}, gateway ${out.byLoss[name]?.[l]?.gatewayCpuP50Ms})`).join(', ')}`,
      );
    return out;
  } finally {
    await rig.stop();
  }
}

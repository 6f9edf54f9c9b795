/**
 * @module @gatehouse/gateway/testing — a gateway in process for the tests of other packages (the SDK's): started on
 * a frozen clock with an in-memory database and the demo users, driven through its real routes with `app.inject` or
 * on an ephemeral loopback port, with the helpers to log a demo user in and to register programs. Not part of the
 * server's surface; the gateway's own tests use `test-support/` directly.
 */
export { ManualClock } from './core/index.js';
export { INSTRUMENTS, type Instrument } from './instruments/index.js';
export {
  ALICE,
  callAs,
  type LoggedIn,
  loginAs,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from './test-support/gateway.js';
export {
  ADMIN_TOKEN,
  REDIRECT_URI,
  registerApp,
  registerBot,
  TestProgram,
} from './test-support/program.js';

/**
 * @module readiness — the access-readiness checklist (`GET /v1/readiness`), the per-user watchlist, the legal-entity
 * review, and the users' own re-authentication times.
 */
export { LOGIN_PATHS, type LoginPath, loginPathOf } from './paths.js';
export { readinessOf, recordReauthentication } from './service.js';

/**
 * @module config/schema
 * The one configuration object. Every setting has a default here, an environment variable derived from its
 * path (`sessions.web.idleTimeoutMs` → `GATEHOUSE_SESSIONS_WEB_IDLE_TIMEOUT_MS`) and a line in
 * `docs/configuration.md`. Unknown keys are errors, so a typo cannot silently fall back to a default.
 *
 * Longer than most modules: every setting with its default and its reason in one schema, so each is documented
 * once.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseListenAddress } from './listen-address.js';
import { isOriginUrl } from './origin.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const ms = (min: number) => z.number().int().min(min);
const factorType = z.enum(['push', 'webauthn', 'totp', 'sms', 'recovery_code']);
const pacingLimit = z.strictObject({ limit: z.number().int().min(1), perMs: ms(1) });

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      /** Interface to listen on. `localhost` keeps a development instance off the network. */
      host: z.string().min(1).default('localhost'),
      port: z.number().int().min(0).max(65535).default(8080),
      /**
       * The URL clients reach the gateway at (`https://gateway.example`: scheme, host and port only). The OAuth
       * issuer defaults to it; DPoP and device proofs name URLs under it; the mobile activation URI and the
       * stream's own origin use it. Never taken from a request's Host header. Required unless the gateway is in
       * development — listening on a loopback interface only, trusting no proxy — where it is
       * `http://{host}:{port}` of the listener.
       */
      publicUrl: z
        .string()
        .refine(isOriginUrl, 'an http(s) URL of scheme, host and port only (no path, query or credentials)')
        .optional(),
      /**
       * Addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed.
       * Empty: the client address is always the socket peer.
       */
      trustedProxies: z.array(z.string().min(1)).default([]),
      /** Request bodies above this size are refused with `BODY_TOO_LARGE`. */
      bodyLimitBytes: z
        .number()
        .int()
        .min(1024)
        .max(16 * 1024 * 1024)
        .default(64 * 1024),
      /** PEM certificate and key: when both are set, the gateway serves HTTPS itself. */
      tlsCertFile: z.string().min(1).optional(),
      tlsKeyFile: z.string().min(1).optional(),
      /**
       * Browser origins allowed to open `/v1/stream` with a session cookie, besides the gateway's own origin.
       * A WebSocket upgrade from any other origin is refused before the socket opens.
       */
      allowedOrigins: z.array(z.string().url()).default([]),
      /** Upper bound on graceful shutdown before connections are dropped. */
      shutdownTimeoutMs: ms(100).default(10_000),
      /**
       * The built Client Portal (`packages/portal/dist`) served at `/`. Default: the portal package next to the
       * gateway's; `false` serves the API only.
       */
      portalDir: z.union([z.string().min(1), z.literal(false)]).optional(),
    })
    .prefault({}),
  database: z
    .strictObject({
      /** `postgres://…` for PostgreSQL; otherwise a SQLite file path (`:memory:` for a throw-away database). */
      url: z.string().min(1).default('./data/gatehouse.db'),
      /**
       * SQLite `synchronous` pragma under WAL. NORMAL (the default, as in Rails 8's SQLite defaults) makes every
       * commit durable against a process crash (`kill -9`) and never corrupts the database; only an OS crash or
       * power loss can roll back the last commits. FULL also survives power loss, at the price of an fsync per
       * commit on the event loop (both SQLite drivers are synchronous), which stalls every request during write bursts.
       * Deployments that need power-loss durability and throughput use PostgreSQL.
       */
      sqliteSynchronous: z.enum(['FULL', 'NORMAL']).default('NORMAL'),
      /**
       * The SQLite driver. `auto` (the default) takes better-sqlite3 (a native addon, the faster) when its addon
       * loads, and otherwise `node:sqlite`, built into Node.js from 22.13. Both pass the same store contract suite;
       * the README's "Node.js lines and the SQLite driver" has the benchmark (`npm run bench -- sqlite`).
       */
      sqliteDriver: z.enum(['auto', 'node:sqlite', 'better-sqlite3']).default('auto'),
      /** PostgreSQL connection pool size per node. */
      poolSize: z.number().int().min(1).max(200).default(10),
      /**
       * How long a request waits for a PostgreSQL connection (every pooled one busy, or the server restarting)
       * before it is answered `503 SERVICE_UNAVAILABLE` with `Retry-After`, instead of hanging.
       */
      acquireTimeoutMs: ms(100).default(5_000),
    })
    .prefault({}),
  secrets: z
    .strictObject({
      /**
       * Base64 server secret (≥ 32 bytes) used to derive the CSRF, device-cookie and at-rest encryption keys.
       * Required when several nodes share a PostgreSQL database (all nodes need the same one).
       */
      serverSecret: z.string().min(43).optional(),
      /**
       * Where a single-node instance keeps its generated secret (created with mode 0600) when none is given.
       * Default: `gatehouse.secret` in the SQLite database file's folder.
       */
      secretFile: z.string().min(1).optional(),
      /**
       * Secrets from before a rotation, each verifying (never signing) until `retiresAt` (ISO 8601): CSRF tokens,
       * device cookies, DPoP nonces, node calls and sealed values made under it keep working until then. Several
       * nodes set it with `serverSecret` (`gatehouse secret rotate` prints both); a SQLite node's secret file holds
       * its own.
       */
      previousServerSecrets: z
        .array(z.strictObject({ secret: z.string().min(43), retiresAt: z.iso.datetime({ offset: true }) }))
        .max(4)
        .default([]),
      /**
       * Base64 secret the lookup keys derive from (the audit-username pseudonym, the throttle-username key), which
       * a rotation keeps so pseudonyms and throttle rows still match. Default: `serverSecret`; after a rotation
       * set it to the first secret (`gatehouse secret rotate` prints it).
       */
      identitySecret: z.string().min(43).optional(),
      /** How long a rotated-out secret keeps verifying (`gatehouse secret rotate`); default 7 days. */
      rotationGraceMs: z
        .number()
        .int()
        .min(60_000)
        .max(90 * 86_400_000)
        .default(7 * 86_400_000),
      /**
       * Bearer token for the operators' admin API (`/v1/admin/…`), at least 32 characters; the admin API is off
       * when it is not set. Compared in constant time; never logged.
       */
      adminApiToken: z.string().min(32).optional(),
    })
    .prefault({}),
  password: z
    .strictObject({
      /** argon2id memory cost in KiB (OWASP minimum row: 19456 KiB with t=2, p=1). */
      memoryCostKib: z.number().int().min(8192).default(19_456),
      timeCost: z.number().int().min(1).max(20).default(2),
      parallelism: z.number().int().min(1).max(16).default(1),
      /** ASVS 5.0 6.2.1: at least 8 characters, 15 recommended; 6.2.9: at least 64 allowed. */
      minLength: z.number().int().min(8).default(12),
      maxLength: z.number().int().min(64).max(1024).default(128),
      /**
       * How long an initial password set by an operator (`gatehouse user create`, `user reset-password`) works
       * before the user must have changed it (ASVS 5.0 6.4.1); afterwards logging in with it fails like a wrong
       * password. 72 h.
       */
      initialLifetimeMs: ms(MINUTE)
        .max(30 * 24 * HOUR)
        .default(72 * HOUR),
      /**
       * Words no password may contain besides the built-in product and broker names (ASVS 5.0 6.1.2, 6.2.11): the
       * broker's own brand, product and system names. Words shorter than 4 characters are ignored.
       */
      contextWords: z.array(z.string().min(1)).default([]),
      /**
       * A file of further passwords to refuse, besides the bundled list (ASVS 5.0 6.2.12): one a line, the password
       * itself or its SHA-1 in hex (optionally `:count`, as in Have I Been Pwned's download). Read once at start-up.
       */
      blocklistFile: z.string().min(1).optional(),
      /**
       * Password hashes computed at once (each takes a core for ~15 ms); further logins queue. The default, one
       * less than the number of cores (at least 1), keeps a core free for the event loop during a login storm.
       */
      maxConcurrentHashes: z
        .number()
        .int()
        .min(1)
        .max(64)
        .default(Math.max(1, availableParallelism() - 1)),
    })
    .prefault({}),
  sessions: z
    .strictObject({
      web: z
        .strictObject({
          /** ASVS 4.0.3 L2 allows 30 min idle; the web channel uses 15 min as the architecture's channel table says. */
          idleTimeoutMs: ms(MINUTE).default(15 * MINUTE),
          /** 12 h: the ASVS L2 / NIST 800-63B AAL2 (rev. 3) absolute bound. */
          absoluteLifetimeMs: ms(MINUTE).default(12 * HOUR),
          /** Second factors a web login may use. */
          allowedFactors: z.array(factorType).default(['push', 'webauthn', 'totp', 'sms', 'recovery_code']),
          /** Assurance a web session needs to hold the brokerage (trading) capability. */
          aalForTrading: z.number().int().min(1).max(3).default(2),
        })
        .prefault({}),
      mobile: z
        .strictObject({
          /** The mobile app: 30 min idle (the ASVS L2 bound), 12 h absolute, as in the architecture's channel table. */
          idleTimeoutMs: ms(MINUTE).default(30 * MINUTE),
          absoluteLifetimeMs: ms(MINUTE).default(12 * HOUR),
          /** The device key plus PIN is the mobile channel's only way in; AAL2 (possession + knowledge). */
          aalForTrading: z.number().int().min(1).max(3).default(2),
        })
        .prefault({}),
      desktop: z
        .strictObject({
          /** The desktop trading client: 15 min idle, 12 h absolute, as in the architecture's channel table. */
          idleTimeoutMs: ms(MINUTE).default(15 * MINUTE),
          absoluteLifetimeMs: ms(MINUTE).default(12 * HOUR),
          /** A desktop login from a device not yet validated: password plus a security key (phishing-resistant). */
          allowedFactors: z.array(factorType).default(['webauthn']),
          aalForTrading: z.number().int().min(1).max(3).default(2),
          /**
           * What a login from a pre-validated desktop device needs besides the device key's proof: the password
           * alone (`password`, AAL2: knowledge + the device key's possession), or the password and the security
           * key (`password_and_security_key`).
           */
          validatedDeviceLogin: z.enum(['password', 'password_and_security_key']).default('password'),
        })
        .prefault({}),
      api: z
        .strictObject({
          /**
           * A program's session under an OAuth grant, and so its refresh token: ends after 24 h without a request
           * (a bot that stopped is not kept logged in).
           */
          idleTimeoutMs: ms(MINUTE).default(24 * HOUR),
          /**
           * And ends 7 days after the grant's session began, whatever its activity: a person consents again at
           * least weekly, as brokers ask of API users (Schwab: refresh tokens last 7 days; IBKR: weekly
           * re-authentication), which bounds how long a copied refresh token and its key could be used.
           */
          absoluteLifetimeMs: ms(MINUTE).default(7 * 24 * HOUR),
        })
        .prefault({}),
      cpapi: z
        .strictObject({
          /**
           * The IBKR Client Portal–compatible face's session: IBKR ends a CPAPI session after about 6 min without a
           * request and after 24 h at most (research/ibkr-cpapi.md §0.3, §7), and bots are written to those figures.
           */
          idleTimeoutMs: ms(MINUTE).default(6 * MINUTE),
          absoluteLifetimeMs: ms(MINUTE).default(24 * HOUR),
          /** Second factors its login page offers: those of a web login. */
          allowedFactors: z.array(factorType).default(['push', 'webauthn', 'totp', 'sms', 'recovery_code']),
          aalForTrading: z.number().int().min(1).max(3).default(2),
        })
        .prefault({}),
      /** How often last-seen times are written behind to the database, in one batch. */
      lastSeenFlushIntervalMs: ms(100).default(5_000),
      /**
       * A cached session is re-read from the database after this long, which bounds how long a revocation can go
       * unnoticed on a node that missed the bus message.
       */
      cacheRevalidateMs: ms(1_000).default(30_000),
      /** Validated sessions kept in memory per node (least recently used are dropped first). */
      cacheMaxEntries: z.number().int().min(100).default(100_000),
      /**
       * Live sessions one user may hold on people's channels (every one but `api`). A login beyond it succeeds and
       * ends the user's least recently used such session (ASVS 5.0 7.1.2). Programs' sessions are capped per grant
       * (`oauth.maxInstanceSessions`) and never end a person's, nor a person's theirs.
       */
      maxLivePerUser: z.number().int().min(2).max(10_000).default(50),
    })
    .prefault({}),
  marketData: z
    .strictObject({
      /** Seed of the simulated feed: the same seed gives the same prices in every run and on every node. */
      seed: z.number().int().default(20260101),
      /** One price step per this many ms (four quotes a second by default). */
      tickMs: ms(50).default(250),
      /** The instant (ISO 8601) at which every simulated price equals its catalogue base price. */
      epoch: z.iso.datetime().default('2026-01-01T00:00:00Z'),
    })
    .prefault({}),
  trading: z
    .strictObject({
      /** A limit this far through the touch (fraction) needs the person's confirmation (IBKR reply o163). */
      priceBandConfirm: z.number().min(0).max(1).default(0.05),
      /** A limit this far through the touch is rejected (`PRICE_OUT_OF_BAND`). */
      priceBandReject: z.number().min(0).max(10).default(0.2),
      /** A confirmation question must be answered within this time. */
      confirmationTtlMs: ms(1_000).default(60_000),
      /** A resubmitted clientOrderId returns the existing order within this window. */
      idempotencyWindowMs: ms(60_000).default(24 * HOUR),
    })
    .prefault({}),
  safety: z
    .strictObject({
      /**
       * How often each node looks for lost sessions (idle or absolute expiry, daily reset) among those with open
       * orders, to apply the session-loss policy; revocations and takeovers are acted on at once.
       */
      sessionLossSweepMs: ms(100).default(1_000),
    })
    .prefault({}),
  oauth: z
    .strictObject({
      /**
       * The authorization server's issuer identifier (`https://gateway.example`): the metadata's `issuer`, the
       * only audience client assertions may name, and `iss` in authorization responses. Default:
       * `server.publicUrl` (in development, the URL derived from the listener); never a request's Host.
       */
      issuer: z.string().url().optional(),
      /** Access tokens: opaque, DPoP-bound, 15 min. */
      accessTokenTtlMs: ms(5_000).default(15 * MINUTE),
      /** Authorization codes: single use, at most 60 s (FAPI 2.0). */
      authorizationCodeTtlMs: ms(1_000).max(60_000).default(60_000),
      /** A pushed authorization request's `request_uri`: single use, this long. */
      parTtlMs: ms(1_000).max(600_000).default(60_000),
      /**
       * With refresh-token rotation on: a spent refresh token presented again from the same DPoP key within this
       * time gets the same successor again (its response was lost); later, or from another key, it revokes the
       * grant.
       */
      refreshReuseLeewayMs: ms(0).max(60_000).default(10_000),
      /** Require a server-provided DPoP nonce (RFC 9449 §8) in every proof; the nonce changes every 5 min. */
      dpopNonce: z.boolean().default(false),
      /** Validated access tokens kept in memory per node. */
      tokenCacheMaxEntries: z.number().int().min(100).default(100_000),
      /**
       * Live sessions one personal client may hold, one per instance (DPoP key): a token request with a new key
       * beyond it ends that client's own least recently seen instance session (reason `instance_limit`, audited,
       * with the client's session-loss policy), never another client's or a person's. A token request costs a
       * client only a fresh key, so without a cap a client (or a bot restarting in a loop with a new key each time)
       * would pile up sessions.
       */
      maxInstanceSessions: z.number().int().min(1).max(1_000).default(5),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      /**
       * Where Prometheus scrapes `GET /metrics`: `host:port` of a listener of its own (`[::1]:9464` for IPv6), apart
       * from the public one, which never serves metrics; `off` for none. Loopback by default: the port a
       * Prometheus agent on the same host (or a sidecar) scrapes.
       */
      listen: z
        .string()
        .refine((v) => parseListenAddress(v) !== undefined, 'host:port, [ipv6]:port or off')
        .default('127.0.0.1:9464'),
      /**
       * A bearer token (at least 32 characters) the metrics listener then requires (`Authorization: Bearer …`),
       * for when it must be reachable beyond loopback. Compared in constant time; never logged.
       */
      bearerToken: z.string().min(32).optional(),
    })
    .prefault({}),
  login: z
    .strictObject({
      /** A started login must complete its second factor within this time. */
      transactionTtlMs: ms(10_000).default(5 * MINUTE),
      /** Wrong second-factor codes allowed per started login before it is void. */
      maxFactorAttempts: z.number().int().min(1).max(20).default(5),
      /**
       * Failures that cost nothing in one bucket: a user's on one network (IPv4 /24, IPv6 /48) from unknown
       * devices, or one known device's (a browser with the user's device cookie, a workstation's device key, the
       * device a session is bound to). Each further failure doubles the wait.
       */
      backoffFreeFailures: z.number().int().min(1).default(5),
      /** The wait after the last free failure. */
      backoffBaseMs: ms(100).default(1_000),
      /** The longest backoff wait: a soft delay, never a lock-out a stranger could use against the owner. */
      backoffMaxMs: ms(1_000).default(15 * MINUTE),
      /** A bucket's failure count is forgotten after this long without failures. */
      failureResetMs: ms(MINUTE).default(12 * HOUR),
      /**
       * Failures of one account from unknown devices, over every network, that cost nothing more; each further one
       * doubles an account-wide wait for unknown devices (never for known ones), from `backoffBaseMs` to
       * `backoffMaxMs`.
       */
      accountBackoffFreeFailures: z.number().int().min(1).default(20),
      /**
       * Consecutive failures in any bucket (the account-wide one included) after which it refuses every attempt
       * until its failures are forgotten (`failureResetMs`). At most 100 (NIST 800-63B §3.2.2).
       */
      maxConsecutiveFailures: z.number().int().min(1).max(100).default(100),
      /** Login requests (password and second factor) allowed per client address per window. */
      ipRateLimitMax: z.number().int().min(1).default(60),
      ipRateLimitWindowMs: ms(1_000).default(MINUTE),
    })
    .prefault({}),
  brokerage: z
    .strictObject({
      /**
       * Daily reset per legal-entity region: brokerage capabilities end at this local time (IBKR's nightly reset;
       * research/broker-sessions.md §1.1). `time` is HH:MM wall-clock time in `timeZone`.
       */
      resets: z
        .strictObject({
          north_america: z.strictObject({
            time: z.string().regex(/^\d{2}:\d{2}$/),
            timeZone: z.string().min(1),
          }),
          europe: z.strictObject({ time: z.string().regex(/^\d{2}:\d{2}$/), timeZone: z.string().min(1) }),
          asia_pacific: z.strictObject({
            time: z.string().regex(/^\d{2}:\d{2}$/),
            timeZone: z.string().min(1),
          }),
        })
        .default({
          north_america: { time: '00:00', timeZone: 'America/New_York' },
          europe: { time: '00:00', timeZone: 'Europe/Zurich' },
          asia_pacific: { time: '00:00', timeZone: 'Asia/Hong_Kong' },
        }),
    })
    .prefault({}),
  cpapi: z
    .strictObject({
      /**
       * IBKR Client Portal Web API listeners (`docs/ibkr-compat.md`): each its own port, holding one user's session
       * for a bot that talks to it without credentials, as IBKR's local gateway does. Loopback and port 5000 by
       * default, plain HTTP (`tls: "self-signed"` for HTTPS as IBKR's gateway serves). With `user`,
       * `passwordFile` and `totpSecretFile` (both files mode 0600) the listener logs in by itself; without, the
       * user logs in at its `/sso/Login` page.
       */
      listeners: z
        .array(
          z
            .strictObject({
              host: z.string().min(1).default('127.0.0.1'),
              port: z.number().int().min(0).max(65535).default(5000),
              tls: z.enum(['off', 'self-signed']).default('off'),
              user: z.string().min(1).optional(),
              passwordFile: z.string().min(1).optional(),
              totpSecretFile: z.string().min(1).optional(),
            })
            .refine(
              (l) => (l.passwordFile === undefined) === (l.totpSecretFile === undefined),
              'passwordFile and totpSecretFile go together',
            )
            .refine((l) => l.passwordFile === undefined || l.user !== undefined, 'passwordFile needs user'),
        )
        .default([]),
      /**
       * IBKR's pacing (10 requests/s per client address, `/tickle` 1/s, `/iserver/account/orders` 1 per 5 s, …,
       * a 10 min penalty box for repeat offenders; `cpapi/pacing.ts` has each figure and its source). Off for
       * load measurements only.
       */
      pacing: z.boolean().default(true),
      /**
       * The figures of that pacing, IBKR's by default (campus documentation "Pacing Limitations";
       * research/ibkr-cpapi.md §1): `global` per address, `endpoints` by path under `/v1/api`, and the penalty box
       * (`offencesForPenalty` refusals within `offenceWindowMs` hold an address for `penaltyMs`; IBKR publishes 10
       * minutes, not the count). One setting, given whole (JSON in the environment).
       */
      pacingLimits: z
        .strictObject({
          global: pacingLimit,
          endpoints: z.array(pacingLimit.extend({ path: z.string().regex(/^\/[A-Za-z0-9/_-]+$/) })),
          offencesForPenalty: z.number().int().min(1),
          offenceWindowMs: ms(1_000),
          penaltyMs: ms(0),
        })
        .default({
          global: { limit: 10, perMs: 1_000 },
          endpoints: [
            { path: '/tickle', limit: 1, perMs: 1_000 },
            { path: '/sso/validate', limit: 1, perMs: 60_000 },
            { path: '/iserver/account/orders', limit: 1, perMs: 5_000 },
            { path: '/iserver/account/trades', limit: 1, perMs: 5_000 },
            { path: '/portfolio/accounts', limit: 1, perMs: 5_000 },
            { path: '/iserver/marketdata/snapshot', limit: 10, perMs: 1_000 },
          ],
          offencesForPenalty: 3,
          offenceWindowMs: MINUTE,
          penaltyMs: 10 * MINUTE,
        }),
    })
    .prefault({}),
  push: z
    .strictObject({
      /** A push request not decided within this time expires (the login can still use another factor). */
      timeoutMs: ms(10_000).default(180_000),
      /** Without a delivery receipt from a device within this time, the login is offered its fallback factors. */
      deliveryTimeoutMs: ms(500).default(10_000),
      /** Longest a `GET /v1/auth/login/{loginId}` long-poll waits before answering "still pending". */
      longPollMs: ms(100).default(25_000),
    })
    .prefault({}),
  devices: z
    .strictObject({
      /** Lifetime of a mobile activation code (single use). */
      activationTtlMs: ms(60_000).default(10 * MINUTE),
    })
    .prefault({}),
  travel: z
    .strictObject({
      /**
       * A login or session from a country the user was never seen from (devices/countries.ts): `step_up` notifies
       * the user and requires a step-up before the session trades (unless a travel notice covers the country
       * today), `notify` only notifies, `off` does neither (countries are still recorded).
       */
      newCountry: z.enum(['step_up', 'notify', 'off']).default('step_up'),
      /** The longest trip one travel notice may cover, in days (first and last day included). */
      maxNoticeDays: z.number().int().min(1).max(366).default(365),
      /** Travel notices that have not ended one user may hold. */
      maxNotices: z.number().int().min(1).max(100).default(10),
    })
    .prefault({}),
  webauthn: z
    .strictObject({
      /** Relying-party id: the registrable domain the portal is served on. */
      rpId: z.string().min(1).default('localhost'),
      rpName: z.string().min(1).default('Gatehouse'),
      /** Origins a ceremony may come from (scheme, host and port exactly). */
      origins: z.array(z.string().url()).default(['http://localhost:8080']),
      /** Lifetime of a registration or authentication challenge. */
      challengeTtlMs: ms(10_000).default(5 * MINUTE),
    })
    .prefault({}),
  totp: z
    .strictObject({
      /** Issuer shown in authenticator apps. */
      issuer: z.string().min(1).default('Gatehouse'),
      /** Steps of 30 s accepted either side of now (RFC 6238 §5.2 suggests at most one). */
      window: z.number().int().min(0).max(2).default(1),
    })
    .prefault({}),
  development: z
    .strictObject({
      /**
       * Serve the simulators' outboxes (`GET /v1/dev/sms-outbox`) without authentication, so a developer can read
       * the codes the SMS simulator "sent". Never enable in production; `serve --demo` turns it on.
       */
      exposeOutboxes: z.boolean().default(false),
    })
    .prefault({}),
  sandbox: z
    .strictObject({
      /**
       * The failure sandbox (`/v1/sandbox/faults`, `gatehouse sandbox`, `gatehouse drill`): faults injected on demand
       * make logins, sessions, entitlements, the transport and orders fail as a real broker's do (docs/sandbox.md).
       * Off by default; `serve --demo` turns it on. Outside development a start with it on prints a warning, and
       * `/readyz` and `/v1/session` carry `"sandbox": true`.
       */
      enabled: z.boolean().default(false),
    })
    .prefault({}),
  cluster: z
    .strictObject({
      /**
       * `redis://…` of the Redis the nodes share: the event bus between nodes (pub/sub: session revocations and
       * changes, takeovers, account and push messages reach every node at once), the replay checks of proofs and
       * nonces, and the per-address rate limits. Unset: one node, whose bus, replay checks and limits are
       * in-process, and which refuses to share a PostgreSQL database with another node (store/node-lock.ts).
       */
      redisUrl: z
        .string()
        .regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')
        .optional(),
      /**
       * What every key and channel this deployment writes in Redis starts with (the bus's channels, replay entries,
       * rate-limit counters): deployments, or test runs, sharing one Redis keep apart by it.
       */
      keyPrefix: z.string().min(1).max(64).default('gatehouse:'),
      /** This node's name in the cluster (leases, logs, metrics). Unset: the host name and a random suffix. */
      nodeId: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash, underscore; at most 64')
        .optional(),
      /**
       * How long an account's lease lasts unless its owner renews it (renewed every third of it). A node that dies
       * holds its accounts this long at most; another then takes them. docs/deployment.md.
       */
      leaseMs: z.number().int().min(500).max(60_000).default(5_000),
      /**
       * The node-to-node listener (order entry forwarded to an account's owner, system cancels): host and port it
       * binds, and the URL other nodes reach it at (default `http://<internalHost>:<port>`). Only other nodes may
       * reach it; every call is signed with a key derived from the server secret.
       */
      internalHost: z.string().default('127.0.0.1'),
      internalPort: z.number().int().min(0).max(65_535).default(0),
      internalUrl: z.url().optional(),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
/** The input form: every setting optional, nested as in `gatehouse.config.json`. */
export type ConfigInput = z.input<typeof configSchema>;

/**
 * @module devices
 * The user's devices (`/v1/devices`), mobile enrolment and activation, desktop device keys, push decisions, and
 * the bytes a device signs.
 */
import { z } from 'zod';
import { idParamsSchema, timestampSchema } from './common.js';

export const DEVICE_KINDS = ['mobile', 'desktop', 'browser'] as const;
export const deviceKindSchema = z.enum(DEVICE_KINDS).meta({ id: 'DeviceKind' });
export type DeviceKind = z.infer<typeof deviceKindSchema>;

/** `GET /v1/devices`. */
export const deviceViewSchema = z
  .object({
    id: z.string(),
    kind: deviceKindSchema,
    name: z.string(),
    platform: z.string(),
    trusted: z.boolean(),
    status: z.enum(['active', 'revoked']),
    loginDisabled: z
      .boolean()
      .meta({ description: 'The device may approve pushes but not log in itself (mobile without a PIN).' }),
    networks: z
      .array(z.string())
      .meta({ description: 'Networks (IPv4 /24, IPv6 /48) it was seen on: the first, then the latest.' }),
    firstSeenAt: timestampSchema,
    firstSeenNetwork: z.string().nullable().meta({
      description: 'The first network it was seen on (IPv4 /24, IPv6 /48), when its address was known.',
    }),
    lastSeenAt: timestampSchema,
    countries: z.array(z.string()).meta({
      description:
        'Countries (ISO 3166-1 alpha-2) it was seen from, first seen first; from the client address, by the ' +
        'GeoLite2 data shipped with the gateway. Empty while it was only seen from private or unknown addresses.',
    }),
  })
  .meta({ id: 'DeviceView' });
export type DeviceView = z.infer<typeof deviceViewSchema>;

export const deviceListSchema = z.object({ devices: z.array(deviceViewSchema) });
export const deviceIdParamsSchema = idParamsSchema;

/** `POST /v1/devices/mobile/enroll`: an activation code for the phone, as a link for its QR code. */
export const activationSchema = z.object({
  activationCode: z.string(),
  activationUri: z.string().meta({
    description:
      '`gatehouse://activate?server=…&code=…`, for an authenticator app (`gatehouse authenticator`).',
  }),
  activationLink: z.string().meta({
    description:
      '`https://…/authenticator?activate=…` on the configured public URL: what the QR code holds, so a phone’s camera opens it.',
  }),
  expiresAt: timestampSchema,
});

/** `POST /v1/devices/mobile/activate`: the phone presents the code with its public key. */
export const activateSchema = z.strictObject({
  activationCode: z.string().min(1).max(128),
  publicKey: z.record(z.string(), z.unknown()).meta({ description: 'A P-256 public JWK.' }),
  name: z.string().trim().min(1).max(64),
  platform: z.string().trim().min(1).max(32),
  pin: z
    .string()
    .regex(/^\d{4,12}$/)
    .optional()
    .meta({ description: 'A PIN of 4–12 digits for logging in on the device itself (`channel: "mobile"`).' }),
});
export const deviceActivatedSchema = z.object({ deviceId: z.string(), status: z.literal('active') });

/** A desktop workstation's device key, registered from a desktop session that logged in with a security key. */
export const registerDesktopSchema = z.strictObject({
  publicKey: z.record(z.string(), z.unknown()),
  name: z.string().trim().min(1).max(64),
  platform: z.string().trim().min(1).max(32),
});
export const desktopRegisteredSchema = z.object({
  deviceId: z.string(),
  kind: z.literal('desktop'),
  status: z.literal('active'),
});

/** `PATCH /v1/devices/{id}`: rename, trust or untrust. */
export const updateDeviceSchema = z
  .strictObject({ name: z.string().trim().min(1).max(64).optional(), trusted: z.boolean().optional() })
  .refine((v) => v.name !== undefined || v.trusted !== undefined, 'name or trusted is required');

/** `{challengeId}` in a path. */
export const challengeParamsSchema = z.strictObject({ challengeId: z.string().min(1).max(64) });

export const PUSH_DECISIONS = ['approve', 'deny'] as const;

/** `POST /v1/devices/push/{challengeId}/decision`: a device's signed answer (`pushDecisionMessage`). */
export const decisionSchema = z.strictObject({
  deviceId: z.string().min(1).max(64),
  decision: z.enum(PUSH_DECISIONS),
  number: z.string().regex(/^\d{2}$/),
  signature: z.string().min(1).max(200),
});

/**
 * A push's one final state, decided on the gateway and sent to the login screen and the device alike: `approved`,
 * `denied`, `wrong_number` (the number typed was not the login screen's), `expired`, or `cancelled` (its login
 * completed with another factor, failed, expired, or sent a newer push).
 */
export const PUSH_STATUSES = [
  'pending',
  'approved',
  'denied',
  'wrong_number',
  'expired',
  'cancelled',
] as const;
export type PushStatusName = (typeof PUSH_STATUSES)[number];
export const pushDecidedSchema = z.object({ challengeId: z.string(), status: z.enum(PUSH_STATUSES) });

/** A push request as an enrolled device receives it on `/v1/devices/stream`. */
export const pushRequestMessageSchema = z
  .object({
    type: z.literal('push'),
    challengeId: z.string(),
    purpose: z
      .enum(['login', 'test'])
      .optional()
      .meta({ description: '`test`: a test push from the Security page, which logs nobody in.' }),
    number: z.string().meta({ description: 'The number the login screen shows; the person matches it.' }),
    context: z.object({
      channel: z.string(),
      requestingDevice: z.string().meta({ description: 'What asked, readable: `Chrome on Linux`.' }),
      ip: z.string(),
      network: z.string().nullable(),
      time: timestampSchema,
    }),
    expiresAt: timestampSchema,
  })
  .meta({ id: 'PushRequestMessage' });
export type PushRequestMessage = z.infer<typeof pushRequestMessageSchema>;

/** `POST /v1/devices/{id}/test-push`: a push to one of the user's phones, which logs nobody in. */
export const testPushSentSchema = z.object({
  challengeId: z.string(),
  number: z.string().meta({ description: 'Type this on the phone to approve the test.' }),
  expiresAt: timestampSchema,
});
export type TestPushSent = z.infer<typeof testPushSentSchema>;

/**
 * ISO 3166-1 alpha-2 codes of the countries and territories the gateway's GeoLite2 data names (Kosovo's `XK`
 * included): the countries a travel notice may name.
 */
export const COUNTRY_CODES: readonly string[] = (
  'AC AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW ' +
  'BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ ' +
  'FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ ' +
  'IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH ' +
  'MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL ' +
  'PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TA TC ' +
  'TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW'
).split(' ');

/** A date as `YYYY-MM-DD` (UTC days). */
const isoDateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .refine(
    (value) =>
      !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) &&
      new Date(`${value}T00:00:00Z`).toISOString().startsWith(value),
    {
      message: 'Not a calendar date.',
    },
  )
  .meta({ description: 'A date, `YYYY-MM-DD` (UTC).' });

/** `POST /v1/travel`: a trip announced ahead, so logins from that country on those days need no step-up. */
export const travelNoticeInputSchema = z.strictObject({
  country: z
    .string()
    .regex(/^[A-Za-z]{2}$/)
    .meta({ description: 'ISO 3166-1 alpha-2 country code (`DE`).' }),
  from: isoDateSchema.meta({ description: 'First day of the trip (UTC, inclusive).' }),
  to: isoDateSchema.meta({ description: 'Last day of the trip (UTC, inclusive).' }),
});
export type TravelNoticeInput = z.infer<typeof travelNoticeInputSchema>;

export const travelNoticeSchema = z
  .object({
    id: z.string(),
    country: z.string().meta({ description: 'ISO 3166-1 alpha-2.' }),
    countryName: z.string().meta({ description: 'The country’s English name (`Germany`).' }),
    from: z.string().meta({ description: 'First day (UTC, inclusive), `YYYY-MM-DD`.' }),
    to: z.string().meta({ description: 'Last day (UTC, inclusive), `YYYY-MM-DD`.' }),
    createdAt: timestampSchema,
  })
  .meta({ id: 'TravelNotice' });
export type TravelNotice = z.infer<typeof travelNoticeSchema>;

/** `GET /v1/travel`: the user's trips that have not ended, soonest first. */
export const travelNoticeListSchema = z.object({ notices: z.array(travelNoticeSchema) });
export const travelNoticeParamsSchema = idParamsSchema;

/** @module devices — device registry, device keys, browser device cookies and risk policy, networks. */
export {
  assessBrowser,
  DEVICE_COOKIE_MAX_AGE_MS,
  type DeviceAssessment,
  describeUserAgent,
  deviceCookieValue,
  parseDeviceCookie,
  recordBrowserLogin,
  WEB_RISK_POLICY,
} from './browser.js';
export {
  type CountryObservation,
  type CountrySeen,
  type CountrySignal,
  CountrySignals,
  deviceCountries,
  type NewCountryPolicy,
} from './countries.js';
export { countryName, isCountryCode } from './country-codes.js';
export { type CountryLookup, geoipCountries, isPublicAddress } from './geo.js';
export {
  decisionMessage,
  type P256Jwk,
  parseP256PublicJwk,
  streamAuthMessage,
  verifyDeviceSignature,
} from './keys.js';
export { networkOf } from './network.js';
export {
  type ActivateInput,
  activateMobileDevice,
  claimPinAttempt,
  createActivation,
  type DeviceView,
  disableDeviceLogin,
  forgivePinFailures,
  type LastFactorCheck,
  listDevices,
  loadSigningDevice,
  MAX_PIN_FAILURES,
  markDeviceSeen,
  presentDevice,
  pushDeviceIds,
  revokeDevice,
  sandboxDevice,
  updateDevice,
} from './registry.js';
export {
  createNotice,
  deleteNotice,
  listNotices,
  noticeCovers,
  type TravelLimits,
  utcDay,
} from './travel.js';

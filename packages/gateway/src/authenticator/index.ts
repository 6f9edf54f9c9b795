/** @module authenticator — the mobile device stand-in (key, enrolment, stream, signed decisions). */
export {
  connectDevice,
  type DeviceIdentity,
  type DeviceStream,
  deviceProof,
  enrolDevice,
  generateDeviceKey,
  parseActivationUri,
  signWithDevice,
  streamUrl,
} from './device.js';
export { defaultKeyFile, loadIdentity, saveIdentity } from './key-file.js';

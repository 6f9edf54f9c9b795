/** @module devices — device registry, device keys, networks. */
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
  createActivation,
  type DeviceView,
  listDevices,
  loadSigningDevice,
  presentDevice,
  pushDeviceIds,
  revokeDevice,
  updateDevice,
} from './registry.js';

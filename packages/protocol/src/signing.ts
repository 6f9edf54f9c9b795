/**
 * @module signing
 * The bytes a device signs: to open its stream, and to approve or deny a push. Kept apart from the schemas so a
 * page that only signs (the browser authenticator) bundles no zod.
 */

/** The bytes a device signs to open its stream: bound to the device, a time and a single-use nonce. */
export function deviceStreamAuthMessage(deviceId: string, timestamp: number, nonce: string): string {
  return `gatehouse-device-stream:${deviceId}:${timestamp}:${nonce}`;
}

/** The bytes a device signs to approve or deny a push request. */
export function pushDecisionMessage(
  challengeId: string,
  decision: 'approve' | 'deny',
  number: string,
): string {
  return JSON.stringify({ challengeId, decision, number });
}

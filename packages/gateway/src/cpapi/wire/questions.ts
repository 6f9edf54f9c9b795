/**
 * @module cpapi/wire/questions
 * IBKR's order-question message ids and texts, and which Gatehouse gate question or refusal each corresponds to,
 * so that a bot that answers questions by matching text or id (ibind's `QuestionType` matches substrings) sees the
 * question it knows.
 */
import type { ErrorCode } from '@gatehouse/protocol';

/**
 * The suppressible message ids with IBKR's description of each (campus "Suppressible message IDs" under
 * iserver/questions/suppress; the same list is the enum of openapi `/iserver/questions/suppress` `messageIds`).
 * Where a description is IBKR's full question text, it is given as the question reads.
 */
export const IBKR_SUPPRESSIBLE_MESSAGES = {
  o163: 'The following order exceeds the price percentage limit',
  o354: 'You are submitting an order without market data. We strongly recommend against this as it may result in erroneous and unexpected trades. Are you sure you want to submit this order?',
  o382: 'The following value exceeds the tick size limit',
  o383: 'The following order "BUY 650 AAPL NASDAQ.NMS" size exceeds the Size Limit of 500.\nAre you sure you want to submit this order?',
  o403: 'This order will most likely trigger and fill immediately.\nAre you sure you want to submit this order?',
  o451: 'The following order "BUY 650 AAPL NASDAQ.NMS" value estimate of 124,995.00 USD exceeds \nthe Total Value Limit of 100,000 USD.\nAre you sure you want to submit this order?',
  o2136: 'Mixed allocation order warning',
  o2137: 'Cross side order warning',
  o2165: 'Warns that instrument does not support trading in fractions outside regular trading hours',
  o10082: 'Called Bond warning',
  o10138: 'The following order size modification exceeds the size modification limit.',
  o10151: 'Warns about risks with Market Orders',
  o10152: 'Warns about risks associated with stop orders once they become active',
  o10153: 'Mandatory price cap warning – your order may be capped by the broker',
  o10164:
    'Traders are responsible for understanding cash quantity details, which are provided on a best efforts basis only.',
  o10223: 'Cash Quantity Order Confirmation',
  o10288: 'Warns about risks associated with market orders for Crypto',
  o10331:
    'You are about to submit a stop order. Please be aware of the various stop order types available and the risks associated with each one.\nAre you sure you want to submit this order?',
  o10332: 'OSL Digital Securities LTD Crypto Order Warning',
  o10333: 'Option Exercise at the Money warning',
  o10334:
    'Warns that order will be placed into current omnibus account instead of currently selected global account',
  o10335: 'Serves internal Rapid Entry window',
  p12: 'If your order is not immediately executable, our systems may, depending on market conditions, reject your order if its limit price is more than the allowed amount away from the reference price at that time. If this happens, you will not receive a fill. This is a control designed to ensure that we comply with our regulatory obligations to avoid submitting disruptive orders to the marketplace.\nUse the Price Management Algo?',
} as const;
export type IbkrMessageId = keyof typeof IBKR_SUPPRESSIBLE_MESSAGES;

/**
 * The o163 question as IBKR words it for a concrete order (campus "Place Order" example:
 * `The following order "BUY 5 AAPL NASDAQ.NMS @ 150.0" price exceeds \nthe Percentage constraint of 3%.\nAre you
 * sure you want to submit this order?`). ibind matches the substring `price exceeds the Percentage constraint of
 * 3%`; IBKR's text breaks the line after "exceeds ", so that match only works once the newline is normalised.
 */
export function priceConstraintQuestion(orderDescription: string, percent: number): string {
  return `The following order "${orderDescription}" price exceeds \nthe Percentage constraint of ${percent}%.\nAre you sure you want to submit this order?`;
}

/** The gate's question ids (trading/gate.ts `NO_MARKET_DATA`, `DELAYED_MARKET_DATA`, `PRICE_FAR_THROUGH_MARKET`). */
export type GateQuestionId = 'no_market_data' | 'delayed_market_data' | 'price_far_through_market';

/** The codes the gate refuses with (trading/gate.ts checks 1–12; product rules use PRODUCT_NOT_ELIGIBLE). */
export type GateRejectCode = Extract<
  ErrorCode,
  | 'SESSION_COMPETING'
  | 'SESSION_RESET'
  | 'STEP_UP_REQUIRED'
  | 'DEVICE_KEY_REQUIRED'
  | 'BROKERAGE_REQUIRED'
  | 'ORDER_TYPE_NOT_ALLOWED'
  | 'ACCOUNT_FROZEN'
  | 'ACCOUNT_CLOSING_ONLY'
  | 'PRODUCT_NOT_ELIGIBLE'
  | 'PERMISSION_MISSING'
  | 'OPTIONS_LEVEL_INSUFFICIENT'
  | 'MARGIN_NOT_ALLOWED'
  | 'DISCLOSURE_REQUIRED'
  | 'INSUFFICIENT_BUYING_POWER'
  | 'PRICE_OUT_OF_BAND'
>;

export interface IbkrQuestionMapping {
  messageId: IbkrMessageId;
  /**
   * `same`: IBKR asks this very question. `closest`: IBKR has no separate question and this id is the nearest one
   * (a bot that suppressed it expects it to cover the case).
   */
  relation: 'same' | 'closest';
}

/**
 * Gatehouse gate question or refusal → IBKR message id, where IBKR has the question; `null` where IBKR has none.
 * Refusals are never questions at IBKR: they answer `{"error":"…"}` (research §4), so every reject code maps to
 * null and the face words the error itself (naming the gate code and rule id).
 */
export const GATE_TO_IBKR: Readonly<Record<GateQuestionId | GateRejectCode, IbkrQuestionMapping | null>> = {
  // IBKR's o354 text is the gate's NO_MARKET_DATA text, word for word (campus suppressible ids; ibind QuestionType).
  no_market_data: { messageId: 'o354', relation: 'same' },
  // IBKR's suppressible list has no delayed-data question; o354 (market data) is the nearest.
  delayed_market_data: { messageId: 'o354', relation: 'closest' },
  // A limit through the market by more than a percentage: IBKR's price percentage constraint (campus example).
  price_far_through_market: { messageId: 'o163', relation: 'same' },
  SESSION_COMPETING: null,
  SESSION_RESET: null,
  STEP_UP_REQUIRED: null,
  DEVICE_KEY_REQUIRED: null,
  BROKERAGE_REQUIRED: null,
  ORDER_TYPE_NOT_ALLOWED: null,
  ACCOUNT_FROZEN: null,
  ACCOUNT_CLOSING_ONLY: null,
  PRODUCT_NOT_ELIGIBLE: null,
  PERMISSION_MISSING: null,
  OPTIONS_LEVEL_INSUFFICIENT: null,
  MARGIN_NOT_ALLOWED: null,
  DISCLOSURE_REQUIRED: null,
  INSUFFICIENT_BUYING_POWER: null,
  PRICE_OUT_OF_BAND: null,
};

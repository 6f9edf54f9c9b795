/** @module trading — the pre-trade gate, order entry, the paper engine, positions, cash, events. */

export { applyFill, commission, emptyLedger, type Ledger, valuate } from './accounting.js';
export {
  evaluateGate,
  GATE_CHECKS,
  type GateResult,
  type GateSnapshot,
  ORDER_TYPES,
  type OrderRequest,
  type OrderType,
  type Question,
} from './gate.js';
export { decimalOf, isMultipleOf, orderBounds, validateOrder } from './order-shape.js';
export { refusal } from './place.js';
export type { Placement, PlacementHooks, RemoteNode } from './placement.js';
export { presentWhatIf } from './preview.js';
export { type OrderRouter, PaperEngine, type RouterEvent, type RouterListener } from './router.js';
export {
  type ModifyResult,
  type OrderChange,
  type OrderPreview,
  type PlaceResult,
  type SystemCanceller,
  TradingService,
} from './service.js';
export { type AccountEvent, listEvents, type OrderView, presentOrder, setCash } from './store.js';

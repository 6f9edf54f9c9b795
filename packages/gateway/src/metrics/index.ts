/** @module metrics — the gateway's Prometheus registry and the listener that serves it. */
export { type BusCounts, createMetrics, type GatewayMetrics, type LiveSessionCounter } from './registry.js';
export { buildMetricsApp, listenForMetrics, type MetricsServerOptions } from './server.js';

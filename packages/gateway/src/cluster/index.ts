/** @module cluster — several nodes: which node works each account (leases, fencing), and the node-to-node channel. */
export { InternalClient, NodeUnreachable, startInternalListener } from './internal.js';
export { type Lease, readLease, takeLease } from './leases.js';
export { ClusterNode } from './node.js';
export { AccountOwnership, LeaseLost } from './ownership.js';

/**
 * The vat node's metrics, read at scrape time from counters the kernel and VatTP keep anyway.
 * Before the node runs (or if it is gone) the node's families are left out; process metrics
 * are always there. Names: quorumvat_* (this vat), process_* (the host process).
 */
import type { VatNode } from '../vat-node.ts';
import type { MetricsRegistry, Sample } from './metrics.ts';

export function registerNodeMetrics(
  m: MetricsRegistry,
  node: () => VatNode | undefined,
  readiness: () => { ready: boolean } | undefined,
): void {
  const vat = (): VatNode => {
    const v = node();
    if (!v) throw Error('no vat node yet');
    return v;
  };
  const kernel = () => vat().kernel.stats;
  const vattp = () => vat().transport.stats;

  m.gauge('quorumvat_ready', '1 when /readyz answers 200.', () => (readiness()?.ready ? 1 : 0));
  m.gauge(
    'quorumvat_store_failed',
    '1 once the store failed (the vat refuses new work until restarted).',
    () => (vat().kernel.storeFailure ? 1 : 0),
  );

  // ---- kernel
  m.counter(
    'quorumvat_cranks_total',
    'Cranks run and committed (every delivery to the vat, aborted ones included).',
    () => kernel().cranks,
  );
  m.counter(
    'quorumvat_cranks_aborted_total',
    'Cranks that failed (gas, a throw, a dead worker) and left no trace.',
    () => kernel().failedCranks,
  );
  m.counter(
    'quorumvat_deliveries_total',
    'Messages delivered to the vat (cranks of type message).',
    () => kernel().deliveries,
  );
  m.counter(
    'quorumvat_gas_used_total',
    'Gas used by cranks (function entries and loop iterations).',
    () => kernel().gasUsed,
  );
  m.counter(
    'quorumvat_worker_restarts_total',
    'Vat worker processes replaced after a failed crank.',
    () => kernel().workerRestarts,
  );
  m.counter(
    'quorumvat_checkpoints_total',
    'Checkpoints of the vat store taken.',
    () => kernel().checkpoints,
  );
  m.gauge(
    'quorumvat_run_queue_depth',
    'Deliveries waiting in the run queue.',
    () => vat().kernel.tableSizes().runQueue,
  );
  m.gauge(
    'quorumvat_promises',
    'Promises in the kernel promise table.',
    () => vat().kernel.tableSizes().promises,
  );
  m.gauge(
    'quorumvat_clist_entries',
    'Entries in all c-lists of this vat.',
    () => vat().kernel.tableSizes().clistEntries,
  );
  m.gauge(
    'quorumvat_unacked_messages',
    'Messages sent to a peer vat and not yet acknowledged, per peer.',
    (): Sample => [...vat().kernel.unackedCounts()].map(([peer, n]) => [{ peer }, n] as const),
  );

  // ---- VatTP
  m.counter('quorumvat_vattp_frames_sent_total', 'Signed frames sent.', () => vattp().framesSent);
  m.counter(
    'quorumvat_vattp_frames_received_total',
    'Frames received and accepted.',
    () => vattp().framesReceived,
  );
  m.counter(
    'quorumvat_vattp_bad_frames_total',
    'Frames or streams refused (bad signature, encoding, sequence...).',
    () => vattp().rejectedInputs,
  );
  m.counter(
    'quorumvat_vattp_messages_sent_total',
    'Messages sent in frames (retransmissions included).',
    () => vattp().messagesSent,
  );
  m.counter(
    'quorumvat_vattp_messages_received_total',
    'New messages received (duplicates excluded).',
    () => vattp().messagesReceived,
  );
  m.counter(
    'quorumvat_vattp_duplicates_received_total',
    'Messages received again (after a reconnect) and dropped.',
    () => vattp().duplicatesReceived,
  );
  m.counter(
    'quorumvat_vattp_connects_total',
    'Outbound VatTP streams opened.',
    () => vattp().connects,
  );
  m.counter(
    'quorumvat_vattp_connect_failures_total',
    'Failed dials of peer vats.',
    () => vattp().connectFailures,
  );
  m.gauge(
    'quorumvat_peers_connected',
    'Peer vats this vat exchanged frames with that are connected now.',
    () => vat().transport.connectedPeers(),
  );

  // ---- the process
  const started = Date.now() / 1000 - process.uptime();
  m.gauge(
    'process_start_time_seconds',
    'Start time of the process since the Unix epoch, in seconds.',
    () => started,
  );
  m.gauge(
    'process_resident_memory_bytes',
    'Resident memory of the host process (not its vat worker).',
    () => process.memoryUsage.rss(),
  );
  m.gauge(
    'nodejs_heap_used_bytes',
    'V8 heap in use in the host process.',
    () => process.memoryUsage().heapUsed,
  );
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The operator's Prometheus metrics, in a registry of its own. */
export class Metrics {
  readonly registry = new Registry();

  readonly deliveries = new Counter({
    name: 'event_xmlrpc_deliveries_total',
    help: 'Deliveries (one per subscriber and raise, after any retries) by final outcome and subscriber namespace.',
    labelNames: ['outcome', 'namespace'] as const,
    registers: [this.registry],
  });

  readonly attempts = new Counter({
    name: 'event_xmlrpc_delivery_attempts_total',
    help: 'HTTP requests sent, retries included, by outcome and subscriber namespace.',
    labelNames: ['outcome', 'namespace'] as const,
    registers: [this.registry],
  });

  readonly connectionsOpened = new Counter({
    name: 'event_xmlrpc_delivery_connections_opened_total',
    help: 'Connections opened to subscribers, by subscriber namespace: one per attempt, fewer where spec.delivery.keepAlive reuses them.',
    labelNames: ['namespace'] as const,
    registers: [this.registry],
  });

  readonly egressDenied = new Counter({
    name: 'event_xmlrpc_egress_denied_total',
    help: 'Delivery attempts refused by the egress policy before any connection, by subscriber namespace.',
    labelNames: ['namespace'] as const,
    registers: [this.registry],
  });

  readonly deliveryDuration = new Histogram({
    name: 'event_xmlrpc_delivery_duration_seconds',
    help: 'Time from the first attempt of a delivery to its final outcome, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly raises = new Counter({
    name: 'event_xmlrpc_raises_total',
    help: 'EventRaises that reached a terminal phase, by phase.',
    labelNames: ['phase'] as const,
    registers: [this.registry],
  });

  readonly reconciles = new Counter({
    name: 'event_xmlrpc_reconciles_total',
    help: 'Reconciles by kind (subscriber, eventraise).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly reconcileErrors = new Counter({
    name: 'event_xmlrpc_reconcile_errors_total',
    help: 'Reconciles that failed and were retried with backoff, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly queueRetries = new Counter({
    name: 'event_xmlrpc_workqueue_retries_total',
    help: 'Keys re-queued with backoff, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly leader = new Gauge({
    name: 'event_xmlrpc_leader',
    help: '1 while this instance runs the controllers: it holds the Lease (--leader-elect), or has started without leader election; else 0.',
    registers: [this.registry],
  });

  private readonly depthReaders = new Map<string, () => number>();
  private raiseLoad: () => { running: number; parked: number } = () => ({ running: 0, parked: 0 });

  constructor() {
    const readers = this.depthReaders;
    new Gauge({
      name: 'event_xmlrpc_workqueue_depth',
      help: 'Keys waiting in the work queue, by kind.',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        for (const [kind, read] of readers) this.set({ kind }, read());
      },
    });
    const load = () => this.raiseLoad();
    new Gauge({
      name: 'event_xmlrpc_raises_in_flight',
      help: 'Raises started and not finished: running, or parked (every unfinished delivery waits on its own subscriber).',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const { running, parked } = load();
        this.set({ state: 'running' }, running);
        this.set({ state: 'parked' }, parked);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Reports the raises in flight whenever metrics are scraped. */
  watchRaises(load: () => { running: number; parked: number }): void {
    this.raiseLoad = load;
  }

  /** Reports a work queue's depth whenever metrics are scraped. */
  watchQueue(kind: string, depth: () => number): void {
    this.depthReaders.set(kind, depth);
  }
}

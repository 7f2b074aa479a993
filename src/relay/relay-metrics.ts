import { Counter, Gauge, type Registry } from 'prom-client';

export type RefusalReason = 'MethodNotAllowed' | 'TooLarge' | 'Malformed' | 'Unsupported' | 'NotAccepted';
export type DropReason = 'QueueFull' | 'StoreFailed';

/** The relays' metrics, labelled by the relay's namespace and name. */
export class RelayMetrics {
  readonly received: Counter<'namespace' | 'relay'>;
  readonly accepted: Counter<'namespace' | 'relay'>;
  readonly refused: Counter<'namespace' | 'relay' | 'reason'>;
  readonly dropped: Counter<'namespace' | 'relay' | 'reason'>;
  readonly repaired: Counter<'namespace' | 'relay'>;
  readonly unknownPath: Counter;
  readonly connectionsDropped: Counter;
  private depthOf: () => Iterable<{ namespace: string; relay: string; depth: number }> = () => [];

  constructor(registry: Registry) {
    const registers = [registry];
    this.received = new Counter({
      name: 'event_xmlrpc_relay_received_total',
      help: 'Requests received at a relay path (accepted, refused or dropped).',
      labelNames: ['namespace', 'relay'] as const,
      registers,
    });
    this.accepted = new Counter({
      name: 'event_xmlrpc_relay_accepted_total',
      help: 'Events a relay accepted: queued (Memory) or stored as an EventRaise (Durable).',
      labelNames: ['namespace', 'relay'] as const,
      registers,
    });
    this.refused = new Counter({
      name: 'event_xmlrpc_relay_refused_total',
      help: 'Requests a relay refused, by reason: MethodNotAllowed, TooLarge, Malformed, Unsupported, NotAccepted (not in spec.events).',
      labelNames: ['namespace', 'relay', 'reason'] as const,
      registers,
    });
    this.dropped = new Counter({
      name: 'event_xmlrpc_relay_dropped_total',
      help: 'Events a relay could not keep, by reason: QueueFull (answered HTTP 503), StoreFailed (Durable: the EventRaise could not be created).',
      labelNames: ['namespace', 'relay', 'reason'] as const,
      registers,
    });
    this.repaired = new Counter({
      name: 'event_xmlrpc_relay_repaired_values_total',
      help: 'String values holding bytes XML cannot carry (invalid UTF-8, forbidden characters: OpenSIPS sends freed memory for non-scalar MI values), passed on with each such byte as U+FFFD.',
      labelNames: ['namespace', 'relay'] as const,
      registers,
    });
    this.unknownPath = new Counter({
      name: 'event_xmlrpc_relay_unknown_path_total',
      help: 'Requests to the relay port that named no relay (answered 404).',
      registers,
    });
    this.connectionsDropped = new Counter({
      name: 'event_xmlrpc_relay_connections_dropped_total',
      help: 'Connections to the relay port closed at once because the connection limit was reached.',
      registers,
    });
    const depth = () => this.depthOf();
    new Gauge({
      name: 'event_xmlrpc_relay_queue_depth',
      help: 'Events a relay holds in this replica: waiting, being delivered, or being stored.',
      labelNames: ['namespace', 'relay'] as const,
      registers,
      collect() {
        this.reset();
        for (const { namespace, relay, depth: d } of depth()) this.set({ namespace, relay }, d);
      },
    });
  }

  watchDepth(read: () => Iterable<{ namespace: string; relay: string; depth: number }>): void {
    this.depthOf = read;
  }

  /** A deleted relay's series go away with it. */
  forget(namespace: string, relay: string): void {
    for (const counter of [this.received, this.accepted, this.repaired]) counter.remove({ namespace, relay });
    for (const reason of ['MethodNotAllowed', 'TooLarge', 'Malformed', 'Unsupported', 'NotAccepted'] satisfies RefusalReason[]) this.refused.remove({ namespace, relay, reason });
    for (const reason of ['QueueFull', 'StoreFailed'] satisfies DropReason[]) this.dropped.remove({ namespace, relay, reason });
  }
}

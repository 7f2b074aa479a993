import type { Registry } from 'prom-client';
import type { Logger } from 'winston';
import type { EventRelay } from '../api/relay-types.js';
import { EVENT_RELAYS } from '../api/types.js';
import type { OperatorConfig } from '../config.js';
import { objectKey } from '../core/object-key.js';
import { clampTimerMs } from '../core/timer.js';
import type { SubscriberIndex } from '../core/subscriber-index.js';
import { Controller, cacheOf, type ControllerSetup, type InformerFactory } from '../controller/controller.js';
import type { RaiseObserver } from '../controller/raise-run.js';
import { WorkQueue } from '../controller/work-queue.js';
import type { Credentials } from '../delivery/credentials.js';
import type { Dispatcher } from '../delivery/dispatcher.js';
import type { ApiClient } from '../kube/api-client.js';
import type { Metrics } from '../observability/metrics.js';
import { DurableRelay } from './durable-relay.js';
import { MemoryRelay } from './memory-relay.js';
import { RelayCounters } from './relay-counters.js';
import { RelayListener } from './relay-listener.js';
import { RelayMetrics } from './relay-metrics.js';
import { RelayReconciler } from './relay-reconciler.js';

export interface RelayControllerDeps {
  informerFor: InformerFactory;
  namespaces: readonly (string | undefined)[];
  config: OperatorConfig;
  log: Logger;
  now: () => Date;
  api: ApiClient;
  index: SubscriberIndex;
  dispatcher: Dispatcher;
  credentials: Credentials;
  observer: RaiseObserver;
  registry: Registry;
  metrics: Metrics;
  /** The caches are synced: relays can be looked up. */
  isReady: () => boolean;
}

/**
 * EventRelays: the listener and the queues run on every replica (each
 * delivers what it received); the reconciler, which gives each relay its
 * path and socket, runs with the other controllers on the leader.
 */
export class RelayController implements ControllerSetup {
  readonly informers;
  readonly controller: Controller;
  private readonly listener: RelayListener;
  private readonly memory: MemoryRelay;
  private readonly durable: DurableRelay;
  private readonly counters: RelayCounters;
  private readonly metrics: RelayMetrics;
  /** The port the relays are served on, once listening. */
  port = 0;

  constructor(deps: RelayControllerDeps) {
    const { config, log, now } = deps;
    const informers = deps.namespaces.map((ns) => deps.informerFor<EventRelay>(EVENT_RELAYS, ns));
    this.informers = informers;
    const cache = cacheOf(informers);
    this.metrics = new RelayMetrics(deps.registry);
    this.counters = new RelayCounters({ cache, api: deps.api, log });
    this.memory = new MemoryRelay({
      dispatcher: deps.dispatcher,
      credentials: deps.credentials,
      index: deps.index,
      defaults: { useStructParam: config.useStructParam, delivery: { policy: config.retry, responseTimeoutMs: config.responseTimeoutMs } },
      observer: deps.observer,
      log,
      now,
      limits: { maxRunning: config.maxRaisesInFlight, maxRunningPerNamespace: config.maxRaisesInFlightPerNamespace },
      maxBytesPerRelay: config.relayQueueBytes,
      finished: (relay, delivered, failed) => {
        if (delivered) this.counters.add(relay, 'delivered', delivered);
        if (failed) this.counters.add(relay, 'failed', failed);
      },
    });
    this.durable = new DurableRelay({ api: deps.api, index: deps.index, log, now });
    const memory = this.memory;
    const durable = this.durable;
    this.metrics.watchDepth(function* () {
      yield* memory.depths();
      yield* durable.depths();
    });
    this.listener = new RelayListener({
      port: config.relayPort,
      cache,
      isReady: deps.isReady,
      metrics: this.metrics,
      counters: this.counters,
      log,
      now,
      intake: {
        take: async (relay, call, bytes) => {
          const sync = relay.spec?.syncMode;
          if (relay.spec?.mode === 'Durable') return this.durable.store(relay, call, sync);
          return this.memory.offer(relay, call, bytes, sync ?? config.syncMode)
            ? { ok: true }
            : { ok: false, reason: 'QueueFull', message: `EventRelay ${relay.metadata.name} holds as many events as it may (spec.queueSize, --relay-queue-bytes)` };
        },
      },
    });

    const queue = new WorkQueue();
    for (const informer of informers) {
      const enqueue = (relay: EventRelay) => queue.add(objectKey(relay.metadata.namespace ?? '', relay.metadata.name ?? ''));
      informer.on({
        add: enqueue,
        update: enqueue,
        delete: (relay) => {
          this.metrics.forget(relay.metadata.namespace ?? '', relay.metadata.name ?? '');
          this.counters.forget(relay.metadata.namespace ?? '', relay.metadata.name ?? '');
        },
      });
    }
    const reconciler = new RelayReconciler({ cache, api: deps.api, host: config.relayHost, port: () => this.port, now, log });
    this.controller = new Controller('eventrelay', queue, reconciler, config.workers, log, deps.metrics);
  }

  async listen(): Promise<number> {
    this.port = await this.listener.listen();
    this.counters.start();
    return this.port;
  }

  /**
   * For a clean stop: no new events (the port closes), and the events held
   * in memory get up to `graceMs` to be delivered.
   */
  async drain(graceMs: number): Promise<{ held: number; left: number }> {
    const held = this.memory.size;
    const closed = this.listener.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.memory.drained(), new Promise((resolve) => (timer = setTimeout(resolve, clampTimerMs(graceMs))))]);
    clearTimeout(timer);
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 100).unref())]);
    return { held, left: this.memory.size };
  }

  /** The last counts go to the relays' status. */
  async close(): Promise<void> {
    await this.listener.close();
    await this.counters.stop();
  }
}

import type { Logger } from 'winston';
import { EVENT_RAISES, type EventRaise } from '../api/types.js';
import type { OperatorConfig } from '../config.js';
import { objectKey, type ObjectKey } from '../core/object-key.js';
import { RaiseScheduler } from '../core/raise-scheduler.js';
import type { SubscriberIndex } from '../core/subscriber-index.js';
import type { Credentials } from '../delivery/credentials.js';
import type { Dispatcher } from '../delivery/dispatcher.js';
import type { ApiClient } from '../kube/api-client.js';
import { errorText } from '../kube/errors.js';
import type { Metrics } from '../observability/metrics.js';
import { Controller, cacheOf, type ControllerSetup, type InformerFactory } from './controller.js';
import { RaiseReconciler, type FinishObserver } from './raise-reconciler.js';
import { WorkQueue } from './work-queue.js';

/**
 * EventRaises: every add, update and delete of a raise queues it, and so
 * does each settled delivery of its run and each slot the scheduler frees;
 * the reconcile starts the run and writes the status.
 */
export class RaiseController implements ControllerSetup {
  readonly informers;
  readonly controller: Controller;
  private readonly reconciler: RaiseReconciler;

  constructor(
    private readonly deps: {
      informerFor: InformerFactory;
      namespaces: readonly (string | undefined)[];
      api: ApiClient;
      index: SubscriberIndex;
      dispatcher: Dispatcher;
      credentials: Credentials;
      observer: FinishObserver;
      config: OperatorConfig;
      metrics: Metrics;
      now: () => Date;
      log: Logger;
    },
  ) {
    const { config } = deps;
    const informers = deps.namespaces.map((ns) => deps.informerFor<EventRaise>(EVENT_RAISES, ns));
    this.informers = informers;
    const queue = new WorkQueue();
    for (const informer of informers) {
      const enqueue = (r: EventRaise) => queue.add(objectKey(r.metadata.namespace ?? '', r.metadata.name ?? ''));
      informer.on({ add: enqueue, update: enqueue, delete: enqueue });
    }
    const scheduler = new RaiseScheduler({
      maxRunning: config.maxRaisesInFlight,
      maxRunningPerNamespace: config.maxRaisesInFlightPerNamespace,
      maxParkedPerNamespace: config.maxParkedRaisesPerNamespace,
    });
    deps.metrics.watchRaises(() => ({ running: scheduler.runningCount, parked: scheduler.parkedCount }));
    this.reconciler = new RaiseReconciler({
      cache: cacheOf(informers),
      index: deps.index,
      dispatcher: deps.dispatcher,
      credentials: deps.credentials,
      scheduler,
      api: deps.api,
      defaults: {
        syncMode: config.syncMode,
        useStructParam: config.useStructParam,
        delivery: { policy: config.retry, responseTimeoutMs: config.responseTimeoutMs },
      },
      requeue: (key: ObjectKey) => queue.add(key),
      observer: deps.observer,
      now: deps.now,
      log: deps.log,
    });
    this.controller = new Controller('eventraise', queue, this.reconciler, config.workers, deps.log, deps.metrics);
  }

  /** Raises whose deliveries have started and not finished. */
  get inFlight(): number {
    return this.reconciler.inFlight;
  }

  /** For a clean stop: no raise starts any more; resolves once none is in flight. */
  drain(): Promise<void> {
    return this.reconciler.drain();
  }

  /**
   * One fresh LIST of the raises as leadership starts: this replica's cache
   * may lag the previous leader's last terminal writes, and must not deliver
   * those raises again meanwhile (RaiseReconciler.rememberTerminal).
   */
  async beforeLeading(isStopped: () => boolean): Promise<void> {
    for (let failures = 0; !isStopped(); failures++) {
      try {
        for (const namespace of this.deps.namespaces) {
          let page: string | undefined;
          do {
            const list = await this.deps.api.list<EventRaise>(EVENT_RAISES, namespace, page);
            this.reconciler.rememberTerminal(list.items);
            page = list.metadata?.continue || undefined;
          } while (page);
        }
        return;
      } catch (err) {
        this.deps.log.warn('leader election: reading the raises failed; retrying', { error: errorText(err) });
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** failures, 5_000)));
      }
    }
  }
}

import type { Logger } from 'winston';
import { SUBSCRIBERS, type Subscriber } from '../api/types.js';
import type { OperatorConfig } from '../config.js';
import { objectKey, splitKey } from '../core/object-key.js';
import { SubscriberIndex } from '../core/subscriber-index.js';
import type { ApiClient } from '../kube/api-client.js';
import type { Metrics } from '../observability/metrics.js';
import { Controller, cacheOf, type ControllerSetup, type InformerFactory } from './controller.js';
import { DeliveryHealth } from './delivery-health.js';
import type { ResolveHost } from './host-resolver.js';
import type { Credentials } from '../delivery/credentials.js';
import { SubscriberReconciler } from './subscriber-reconciler.js';
import { WorkQueue } from './work-queue.js';

/**
 * Subscribers: their informers feed the index that raises are matched
 * against, and queue the Subscriber, whose reconcile writes its target,
 * Ready condition and delivery health. Sources: every add, update and delete
 * of a Subscriber; the delivery health of DeliveryHealth, coalesced.
 */
export class SubscriberController implements ControllerSetup {
  readonly index = new SubscriberIndex();
  readonly health: DeliveryHealth;
  readonly informers;
  readonly controller: Controller;

  constructor(deps: {
    informerFor: InformerFactory;
    namespaces: readonly (string | undefined)[];
    api: ApiClient;
    resolveHost: ResolveHost;
    /** Checks spec.tls and spec.auth against their Secrets. */
    credentials: Credentials;
    /** A Warning Event on a Subscriber: its status turned Ready=False, or its spec is unsafe. */
    warn: (subscriber: Subscriber, reason: string, message: string) => void;
    config: Pick<OperatorConfig, 'workers'>;
    metrics: Metrics;
    now: () => Date;
    log: Logger;
  }) {
    const informers = deps.namespaces.map((ns) => deps.informerFor<Subscriber>(SUBSCRIBERS, ns));
    this.informers = informers;
    const cache = cacheOf(informers);
    const queue = new WorkQueue();
    this.health = new DeliveryHealth({
      written: (key) => {
        const { namespace, name } = splitKey(key);
        return cache.get(namespace, name)?.status;
      },
      reconcileAfter: (key, ms) => queue.addAfter(key, ms),
    });
    const keyOf = (s: Subscriber) => objectKey(s.metadata.namespace ?? '', s.metadata.name ?? '');
    for (const informer of informers) {
      const upsert = (s: Subscriber) => {
        this.index.upsert(s);
        queue.add(keyOf(s));
      };
      const remove = (s: Subscriber) => {
        this.index.remove(s.metadata.namespace ?? '', s.metadata.name ?? '');
        queue.add(keyOf(s)); // its reconcile forgets what the operator kept of it
      };
      informer.on({ add: upsert, update: upsert, delete: remove });
    }
    const reconciler = new SubscriberReconciler({
      cache,
      api: deps.api,
      resolveHost: deps.resolveHost,
      health: this.health,
      credentials: deps.credentials,
      warn: deps.warn,
      now: deps.now,
      log: deps.log,
    });
    this.controller = new Controller('subscriber', queue, reconciler, deps.config.workers, deps.log, deps.metrics);
  }
}

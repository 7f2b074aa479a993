import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { EVENT_RAISES, SUBSCRIBERS, type EventRaise, type Resource, type Subscriber } from './api/types.js';
import type { OperatorConfig } from './config.js';
import { SubscriberIndex } from './core/subscriber-index.js';
import { Controller } from './controller/controller.js';
import { resolveHost, type ResolveHost } from './controller/host-resolver.js';
import { RaiseReconciler } from './controller/raise-reconciler.js';
import { SubscriberReconciler } from './controller/subscriber-reconciler.js';
import { WorkQueue } from './controller/work-queue.js';
import { Dispatcher } from './delivery/dispatcher.js';
import { HttpSender } from './delivery/http-sender.js';
import { ApiClient } from './kube/api-client.js';
import { Informer, keyOf, type ObjectCache } from './kube/informer.js';

export interface OperatorDeps {
  kubeConfig: KubeConfig;
  config: OperatorConfig;
  log: Logger;
  resolveHost?: ResolveHost;
  now?: () => Date;
}

/**
 * Wires the data path: informers feed the subscriber index and two keyed
 * work queues; the reconcilers write Subscriber status and deliver raises.
 */
export class Operator {
  readonly index = new SubscriberIndex();
  private readonly api: ApiClient;
  private readonly sender: HttpSender;
  private readonly subscriberInformers: Informer<Subscriber>[] = [];
  private readonly raiseInformers: Informer<EventRaise>[] = [];
  private readonly subscriberController: Controller;
  private readonly raiseController: Controller;
  private readonly raiseReconciler: RaiseReconciler;

  constructor(private readonly deps: OperatorDeps) {
    const { config, log } = deps;
    const now = deps.now ?? (() => new Date());
    this.api = new ApiClient(deps.kubeConfig);
    this.sender = new HttpSender({
      userAgent: config.userAgent,
      connectTimeoutMs: config.connectTimeoutMs,
      responseTimeoutMs: config.responseTimeoutMs,
    });
    const namespaces = config.namespaces.length ? config.namespaces : [undefined];
    const subscribers = namespaces.map((ns) => this.informer<Subscriber>(SUBSCRIBERS, ns));
    const raises = namespaces.map((ns) => this.informer<EventRaise>(EVENT_RAISES, ns));
    this.subscriberInformers.push(...subscribers);
    this.raiseInformers.push(...raises);

    const subscriberQueue = new WorkQueue();
    const raiseQueue = new WorkQueue();
    const cacheOf = <T extends Subscriber | EventRaise>(informers: Informer<T>[]): ObjectCache<T> => ({
      get: (namespace, name) => informers.map((i) => i.get(namespace, name)).find(Boolean),
    });

    for (const informer of subscribers) {
      informer.on({
        add: (s) => {
          this.index.upsert(s);
          subscriberQueue.add(keyOf(s));
        },
        update: (s) => {
          this.index.upsert(s);
          subscriberQueue.add(keyOf(s));
        },
        delete: (s) => this.index.remove(s.metadata?.namespace ?? '', s.metadata?.name ?? ''),
      });
    }
    for (const informer of raises) {
      informer.on({
        add: (r) => raiseQueue.add(keyOf(r)),
        update: (r) => raiseQueue.add(keyOf(r)),
        delete: (r) => raiseQueue.add(keyOf(r)),
      });
    }

    this.subscriberController = new Controller(
      'subscriber',
      subscriberQueue,
      new SubscriberReconciler({
        cache: cacheOf(subscribers),
        api: this.api,
        resolveHost: deps.resolveHost ?? resolveHost,
        now,
        log,
      }),
      config.workers,
      log,
    );
    this.raiseReconciler = new RaiseReconciler({
      cache: cacheOf(raises),
      index: this.index,
      dispatcher: new Dispatcher(this.sender, config.perSubscriberConcurrency),
      api: this.api,
      defaults: { syncMode: config.syncMode, useStructParam: config.useStructParam },
      requeue: (key) => raiseQueue.add(key),
      now,
      log,
    });
    this.raiseController = new Controller('eventraise', raiseQueue, this.raiseReconciler, config.workers, log);
  }

  /** Checks the API and the CRDs, fills the caches, then starts the workers. */
  async start(): Promise<void> {
    await this.api.checkCrds([SUBSCRIBERS, EVENT_RAISES]);
    const informers = [...this.subscriberInformers, ...this.raiseInformers];
    for (const informer of informers) informer.start();
    await Promise.all(informers.map((i) => i.hasSynced));
    this.subscriberController.start();
    this.raiseController.start();
    this.deps.log.info('operator started', {
      server: this.api.server,
      namespaces: this.deps.config.namespaces.length ? this.deps.config.namespaces : 'all',
      syncMode: this.deps.config.syncMode,
      useStructParam: this.deps.config.useStructParam,
    });
  }

  async stop(): Promise<void> {
    for (const informer of [...this.subscriberInformers, ...this.raiseInformers]) informer.stop();
    await Promise.all([this.subscriberController.stop(), this.raiseController.stop()]);
    this.sender.close();
  }

  private informer<T extends Subscriber | EventRaise>(resource: Resource, namespace: string | undefined): Informer<T> {
    return new Informer<T>({
      kubeConfig: this.deps.kubeConfig,
      path: this.api.collectionPath(resource, namespace),
      list: (continueToken) => this.api.list<T>(resource, namespace, continueToken),
      log: this.deps.log,
    });
  }
}

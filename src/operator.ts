import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { API_VERSION, EVENT_RAISES, SUBSCRIBERS, type EventRaise, type Resource, type Subscriber } from './api/types.js';
import type { OperatorConfig } from './config.js';
import { SubscriberIndex, type SubscriberEntry } from './core/subscriber-index.js';
import { Controller } from './controller/controller.js';
import { resolveHost, type ResolveHost } from './controller/host-resolver.js';
import { RaiseReconciler, type RaiseObserver } from './controller/raise-reconciler.js';
import { SubscriberReconciler } from './controller/subscriber-reconciler.js';
import { WorkQueue } from './controller/work-queue.js';
import { Dispatcher } from './delivery/dispatcher.js';
import { HttpSender } from './delivery/http-sender.js';
import { ApiClient, StartupError } from './kube/api-client.js';
import { EventRecorder } from './kube/event-recorder.js';
import { Informer, keyOf, type ObjectCache } from './kube/informer.js';
import { ProbeServer } from './observability/http-server.js';
import { Metrics } from './observability/metrics.js';

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
  readonly metrics = new Metrics();
  private readonly api: ApiClient;
  private readonly sender: HttpSender;
  private readonly recorder: EventRecorder;
  private readonly probes: ProbeServer;
  private readonly informers: Array<Informer<Subscriber> | Informer<EventRaise>> = [];
  private readonly controllers: Controller[];
  private ready = false;
  private stopRequested!: () => void;
  private readonly stopping = new Promise<void>((resolve) => (this.stopRequested = resolve));
  /** The port /metrics, /healthz and /readyz listen on, once started. */
  httpPort = 0;

  constructor(private readonly deps: OperatorDeps) {
    const { config, log } = deps;
    const now = deps.now ?? (() => new Date());
    this.api = new ApiClient(deps.kubeConfig);
    this.recorder = new EventRecorder(deps.kubeConfig, log, now);
    this.probes = new ProbeServer({ port: config.httpPort, registry: this.metrics.registry, isReady: () => this.ready });
    this.sender = new HttpSender({
      userAgent: config.userAgent,
      connectTimeoutMs: config.connectTimeoutMs,
      responseTimeoutMs: config.responseTimeoutMs,
    });

    const namespaces = config.namespaces.length ? config.namespaces : [undefined];
    const subscribers = namespaces.map((ns) => this.informer<Subscriber>(SUBSCRIBERS, ns));
    const raises = namespaces.map((ns) => this.informer<EventRaise>(EVENT_RAISES, ns));
    this.informers.push(...subscribers, ...raises);
    const subscriberQueue = new WorkQueue();
    const raiseQueue = new WorkQueue();

    for (const informer of subscribers) {
      const upsert = (s: Subscriber) => {
        this.index.upsert(s);
        subscriberQueue.add(keyOf(s));
      };
      informer.on({ add: upsert, update: upsert, delete: (s) => this.index.remove(s.metadata.namespace ?? '', s.metadata.name ?? '') });
    }
    for (const informer of raises) {
      const enqueue = (r: EventRaise) => raiseQueue.add(keyOf(r));
      informer.on({ add: enqueue, update: enqueue, delete: enqueue });
    }

    const subscriberReconciler = new SubscriberReconciler({
      cache: cacheOf(subscribers),
      api: this.api,
      resolveHost: deps.resolveHost ?? resolveHost,
      notReady: (s, reason, message) =>
        this.recorder.warning(reference(SUBSCRIBERS, s.metadata.namespace ?? '', s.metadata.name ?? '', s.metadata.uid ?? ''), reason, 'Validate', message),
      now,
      log,
    });
    const raiseReconciler = new RaiseReconciler({
      cache: cacheOf(raises),
      index: this.index,
      dispatcher: new Dispatcher(this.sender, config.perSubscriberConcurrency, (subscriberKey, attempt) =>
        this.metrics.attempts.inc({ outcome: attempt.outcome === 'Delivered' ? 'delivered' : 'failed', namespace: subscriberKey.split('/')[0] }),
      ),
      api: this.api,
      defaults: {
        syncMode: config.syncMode,
        useStructParam: config.useStructParam,
        delivery: { policy: config.retry, responseTimeoutMs: config.responseTimeoutMs },
      },
      requeue: (key) => raiseQueue.add(key),
      observer: this.raiseObserver(),
      now,
      log,
    });
    this.controllers = [
      new Controller('subscriber', subscriberQueue, subscriberReconciler, config.workers, log, this.metrics),
      new Controller('eventraise', raiseQueue, raiseReconciler, config.workers, log, this.metrics),
    ];
  }

  /** Serves the probes, checks the API and the CRDs, fills the caches, then starts the workers. */
  async start(): Promise<void> {
    this.httpPort = await this.probes.listen().catch((err: Error) => {
      throw new StartupError(`cannot serve /metrics and the probes on port ${this.deps.config.httpPort} (--http-port): ${err.message}`);
    });
    try {
      await this.api.checkCrds([SUBSCRIBERS, EVENT_RAISES]);
    } catch (err) {
      await this.probes.close();
      throw err;
    }
    for (const informer of this.informers) informer.start();
    const synced = Promise.all(this.informers.map((i) => i.hasSynced)).then(() => true);
    if (!(await Promise.race([synced, this.stopping.then(() => false)]))) return;
    for (const controller of this.controllers) controller.start();
    this.ready = true;
    this.deps.log.info('operator started', {
      server: this.api.server,
      namespaces: this.deps.config.namespaces.length ? this.deps.config.namespaces : 'all',
      syncMode: this.deps.config.syncMode,
      useStructParam: this.deps.config.useStructParam,
      httpPort: this.httpPort,
    });
  }

  async stop(): Promise<void> {
    this.ready = false;
    this.stopRequested();
    for (const informer of this.informers) informer.stop();
    await Promise.all(this.controllers.map((c) => c.stop()));
    this.sender.close();
    await this.recorder.flush();
    await this.probes.close();
  }

  private raiseObserver(): RaiseObserver {
    return {
      delivered: (subscriber: SubscriberEntry, raise: EventRaise, result) => {
        const outcome = result.outcome === 'Delivered' ? 'delivered' : 'failed';
        this.metrics.deliveries.inc({ outcome, namespace: subscriber.namespace });
        this.metrics.deliveryDuration.observe({ outcome }, result.durationMs / 1000);
        if (result.outcome === 'Failed') {
          const why = result.faultString !== undefined ? `fault ${result.faultCode ?? ''} ${result.faultString}` : result.error;
          this.recorder.warning(
            reference(SUBSCRIBERS, subscriber.namespace, subscriber.name, subscriber.uid),
            'DeliveryFailed',
            'Deliver',
            `${raise.spec.event} from EventRaise ${raise.metadata.name} to ${subscriber.target.url}: ${why}`,
          );
        }
      },
      finished: (_raise, status) => {
        if (status.phase) this.metrics.raises.inc({ phase: status.phase });
      },
    };
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

function cacheOf<T extends Subscriber | EventRaise>(informers: Informer<T>[]): ObjectCache<T> {
  return { get: (namespace, name) => informers.map((i) => i.get(namespace, name)).find(Boolean) };
}

function reference(resource: Resource, namespace: string, name: string, uid: string) {
  return { apiVersion: API_VERSION, kind: resource.kind, namespace, name, uid };
}

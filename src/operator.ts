import { isIP } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { API_VERSION, EVENT_RAISES, SUBSCRIBERS, type EventRaise, type Resource, type Subscriber, type SubscriberHealth } from './api/types.js';
import type { OperatorConfig } from './config.js';
import { SubscriberIndex, type SubscriberEntry } from './core/subscriber-index.js';
import { clampTimerMs } from './core/timer.js';
import { Controller } from './controller/controller.js';
import { HEALTH_FLUSH_MS, HealthTracker } from './controller/health-tracker.js';
import { hostResolver, type ResolveHost } from './controller/host-resolver.js';
import { DeliveryReason } from './api/conditions.js';
import { API_SERVER_ORIGIN, EgressPolicy } from './core/egress-policy.js';
import { EgressGuard, systemLookup, type LookupAll } from './delivery/egress-guard.js';
import { Credentials } from './delivery/credentials.js';
import { SecretStore } from './kube/secret-store.js';
import { RaiseReconciler, type FinishObserver } from './controller/raise-reconciler.js';
import { RaiseScheduler } from './core/raise-scheduler.js';
import type { ObjectKey } from './core/object-key.js';
import { SubscriberReconciler } from './controller/subscriber-reconciler.js';
import { WorkQueue } from './controller/work-queue.js';
import { Dispatcher } from './delivery/dispatcher.js';
import { HttpSender } from './delivery/http-sender.js';
import { ApiClient, OPERATOR_RIGHTS, collectionPath } from './kube/api-client.js';
import { EventRecorder } from './kube/event-recorder.js';
import { ClusterError, errorText } from './kube/errors.js';
import { Informer, keyOf, type ObjectCache } from './kube/informer.js';
import { LeaderElector, leaderIdentity } from './kube/leader-election.js';
import { ProbeServer } from './observability/http-server.js';
import { Metrics } from './observability/metrics.js';

export interface OperatorDeps {
  kubeConfig: KubeConfig;
  config: OperatorConfig;
  log: Logger;
  /** Name lookups of the delivery targets (the Subscribers' checks and every connection); default the system resolver. */
  lookup?: LookupAll;
  resolveHost?: ResolveHost;
  now?: () => Date;
  /** Holder identity in the Lease (--leader-elect); default: POD_NAME or the host name, and a random part. */
  identity?: string;
}

/**
 * Wires the data path: informers feed the subscriber index and two keyed
 * work queues; the reconcilers write Subscriber status and deliver raises.
 *
 * With --leader-elect the informers start and sync (ready) at once, but the
 * workers start only once this instance holds the Lease; losing it stops
 * them at once and resolves `leadershipLost` (main.ts then exits non-zero,
 * client-go's OnStoppedLeading convention).
 */
export class Operator {
  readonly index = new SubscriberIndex();
  readonly metrics = new Metrics();
  private readonly health = new HealthTracker();
  private readonly api: ApiClient;
  private readonly sender: HttpSender;
  private readonly egress: EgressGuard;
  private readonly credentials: Credentials;
  private readonly dispatcher: Dispatcher;
  private readonly recorder: EventRecorder;
  private readonly probes: ProbeServer;
  private readonly informers: Array<Informer<Subscriber> | Informer<EventRaise>> = [];
  private readonly controllers: Controller[];
  private readonly raiseReconciler: RaiseReconciler;
  private readonly elector: LeaderElector | undefined;
  private ready = false;
  private leading = false;
  private stopped: Promise<void> | undefined;
  private markLost!: (reason: string) => void;
  /** Resolves with the reason when leadership is lost (never without --leader-elect, nor after stop()). */
  readonly leadershipLost = new Promise<string>((resolve) => (this.markLost = resolve));
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
    const secrets = new SecretStore(deps.kubeConfig, config.secretTtlMs);
    this.credentials = new Credentials((namespace, name) => secrets.read(namespace, name));
    this.egress = new EgressGuard(EgressPolicy.fromFlags(config.egressDeny, config.egressAllow), deps.lookup ?? systemLookup);
    this.sender = new HttpSender({
      userAgent: config.userAgent,
      connectTimeoutMs: config.connectTimeoutMs,
      responseTimeoutMs: config.responseTimeoutMs,
      maxResponseBytes: config.maxResponseBytes,
      egress: this.egress,
    });
    this.dispatcher = new Dispatcher(this.sender, config.perSubscriberConcurrency, (subscriberKey, attempt) => {
      const namespace = subscriberKey.split('/')[0];
      this.metrics.attempts.inc({ outcome: attempt.outcome === 'Delivered' ? 'delivered' : 'failed', namespace });
      if (attempt.reason === DeliveryReason.EgressDenied) this.metrics.egressDenied.inc({ namespace });
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
      resolveHost: deps.resolveHost ?? hostResolver(this.egress),
      health: this.health,
      credentials: this.credentials,
      warn: (s, reason, message) =>
        this.recorder.warning(reference(SUBSCRIBERS, s.metadata.namespace ?? '', s.metadata.name ?? '', s.metadata.uid ?? ''), reason, 'Validate', message),
      now,
      log,
    });
    const scheduler = new RaiseScheduler({
      maxRunning: config.maxRaisesInFlight,
      maxRunningPerNamespace: config.maxRaisesInFlightPerNamespace,
      maxParkedPerNamespace: config.maxParkedRaisesPerNamespace,
    });
    this.metrics.watchRaises(() => ({ running: scheduler.runningCount, parked: scheduler.parkedCount }));
    const raiseReconciler = new RaiseReconciler({
      cache: cacheOf(raises),
      index: this.index,
      dispatcher: this.dispatcher,
      credentials: this.credentials,
      api: this.api,
      defaults: {
        syncMode: config.syncMode,
        useStructParam: config.useStructParam,
        delivery: { policy: config.retry, responseTimeoutMs: config.responseTimeoutMs },
      },
      scheduler,
      requeue: (key: ObjectKey) => raiseQueue.add(key),
      observer: this.raiseObserver((key) => {
        // Health reaches the Subscriber's status in one write per key and interval, whatever the event rate.
        const [namespace = '', name = ''] = key.split('/');
        return { published: cacheOf(subscribers).get(namespace, name)?.status, flush: () => subscriberQueue.addAfter(key, HEALTH_FLUSH_MS) };
      }),
      now,
      log,
    });
    this.controllers = [
      new Controller('subscriber', subscriberQueue, subscriberReconciler, config.workers, log, this.metrics),
      new Controller('eventraise', raiseQueue, raiseReconciler, config.workers, log, this.metrics),
    ];
    this.raiseReconciler = raiseReconciler;
    this.metrics.leader.set(0);
    this.elector = config.leaderElect
      ? new LeaderElector({
          kubeConfig: deps.kubeConfig,
          namespace: config.leaderElectionNamespace,
          name: config.leaderElectionId,
          identity: deps.identity ?? leaderIdentity(),
          leaseDurationMs: config.leaseDurationMs,
          renewDeadlineMs: config.renewDeadlineMs,
          retryPeriodMs: config.retryPeriodMs,
          log,
        })
      : undefined;
  }

  /** True while the workers run: this instance holds the Lease, or runs without leader election. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** The identity written into the Lease; undefined without --leader-elect. */
  get identity(): string | undefined {
    return this.elector?.identity;
  }

  /**
   * Serves the probes, checks the API and the CRDs, fills the caches (ready),
   * then starts the workers, or with --leader-elect the election that starts
   * them once this instance leads.
   */
  async start(): Promise<void> {
    this.httpPort = await this.probes.listen().catch((err: Error) => {
      throw new ClusterError(`cannot serve /metrics and the probes on port ${this.deps.config.httpPort} (--http-port): ${err.message}`);
    });
    try {
      await this.api.checkCrds([SUBSCRIBERS, EVENT_RAISES]);
      await this.denyApiServer();
    } catch (err) {
      await this.probes.close();
      throw err;
    }
    for (const informer of this.informers) informer.start();
    const synced = Promise.all(this.informers.map((i) => i.hasSynced)).then(() => true);
    if (!(await Promise.race([synced, this.stopping.then(() => false)]))) return;
    if (this.elector) this.elector.start({ onStartedLeading: () => void this.lead(), onStoppedLeading: (reason) => this.abdicate(reason) });
    else void this.lead();
    this.ready = true;
    this.deps.log.info('operator started', {
      server: this.api.server,
      namespaces: this.deps.config.namespaces.length ? this.deps.config.namespaces : 'all',
      syncMode: this.deps.config.syncMode,
      useStructParam: this.deps.config.useStructParam,
      httpPort: this.httpPort,
      leaderElection: this.elector ? { identity: this.elector.identity, lease: this.elector.lock } : false,
      egress: this.egress.current.rules.map((r) => `${r.action} ${r.range.text} (${r.origin})`),
    });
  }

  /**
   * Adds the API server's addresses, as the kubeconfig names it, to the
   * denied ones: resolved once, at start (a name that later moves is the
   * admin's to deny by --egress-deny, like the apiserver's endpoints behind
   * the in-cluster Service address).
   */
  private async denyApiServer(): Promise<void> {
    const host = new URL(this.api.server).hostname.replace(/^\[|\]$/g, '');
    let addresses: string[];
    try {
      addresses = isIP(host) ? [host] : (await (this.deps.lookup ?? systemLookup)(host)).map((a) => a.address);
    } catch (err) {
      throw new ClusterError(`cannot resolve the Kubernetes API server's host ${host} to keep deliveries away from it: ${(err as Error).message}`);
    }
    this.egress.use(this.egress.current.denying(addresses, API_SERVER_ORIGIN));
  }

  /**
   * A graceful stop: no raise starts any more; the raises in flight get up to
   * --shutdown-grace to finish and write their status, with the workers still
   * running for that; then the controllers and informers stop, and the Lease
   * is released so that another instance takes over at once.
   */
  stop(): Promise<void> {
    this.stopped ??= this.shutDown();
    return this.stopped;
  }

  private async shutDown(): Promise<void> {
    const { log, config } = this.deps;
    this.ready = false;
    this.stopRequested();
    if (this.leading) {
      const inFlight = this.raiseReconciler.inFlight;
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        this.raiseReconciler.drain().then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), clampTimerMs(config.shutdownGraceMs)))),
      ]);
      clearTimeout(timer);
      const fields = { inFlight, remaining: this.raiseReconciler.inFlight, ms: Math.round(performance.now() - started) };
      if (drained) log.info('stopping: raises in flight finished', fields);
      else log.warn('stopping: shutdown grace over with raises still in flight; they will be delivered again', fields);
    }
    // Nothing is sent any more before the Lease goes to another instance.
    this.dispatcher.close();
    this.sender.close();
    await Promise.all(this.controllers.map((c) => c.stop()));
    for (const informer of this.informers) informer.stop();
    await this.elector?.stopAndRelease();
    this.setLeading(false);
    await this.recorder.flush();
    await this.probes.close();
  }

  /** Leadership acquired (or no election): the workers start. */
  private async lead(): Promise<void> {
    if (this.stopped) return;
    if (this.elector) {
      this.deps.log.info('leader election: acquired', { identity: this.elector.identity, lease: this.elector.lock });
      await this.readTerminalRaises();
      if (this.stopped) return;
    }
    this.setLeading(true);
    for (const controller of this.controllers) controller.start();
  }

  /** One fresh LIST of the raises as leadership starts (see RaiseReconciler.rememberTerminal). */
  private async readTerminalRaises(): Promise<void> {
    const namespaces = this.deps.config.namespaces.length ? this.deps.config.namespaces : [undefined];
    for (let failures = 0; !this.stopped; failures++) {
      try {
        for (const namespace of namespaces) {
          let page: string | undefined;
          do {
            const list = await this.api.list<EventRaise>(EVENT_RAISES, namespace, page);
            this.raiseReconciler.rememberTerminal(list.items);
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

  /** Leadership lost: no reconcile starts any more, at once; the caller must exit (main.ts). */
  private abdicate(reason: string): void {
    this.deps.log.error('leader election: lost', { identity: this.elector?.identity, lease: this.elector?.lock, reason });
    this.setLeading(false);
    for (const controller of this.controllers) controller.queue.shutDown();
    this.markLost(reason);
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    this.metrics.leader.set(leading ? 1 : 0);
  }

  private raiseObserver(subscriberHealth: (key: string) => { published: SubscriberHealth | undefined; flush: () => void }): FinishObserver {
    return {
      delivered: (subscriber: SubscriberEntry, raise: EventRaise, result) => {
        const key = `${subscriber.namespace}/${subscriber.name}`;
        const { published, flush } = subscriberHealth(key);
        const why = result.faultString !== undefined ? `fault ${result.faultCode ?? ''} ${result.faultString}` : result.error;
        this.health.record(key, published, { ok: result.outcome === 'Delivered', error: why, at: new Date() });
        flush();
        const outcome = result.outcome === 'Delivered' ? 'delivered' : 'failed';
        this.metrics.deliveries.inc({ outcome, namespace: subscriber.namespace });
        this.metrics.deliveryDuration.observe({ outcome }, result.durationMs / 1000);
        if (result.outcome === 'Failed') {
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
      path: collectionPath(resource, namespace),
      list: (continueToken) => this.api.list<T>(resource, namespace, continueToken),
      log: this.deps.log,
      rightsHint: OPERATOR_RIGHTS,
    });
  }
}

function cacheOf<T extends Subscriber | EventRaise>(informers: Informer<T>[]): ObjectCache<T> {
  return { get: (namespace, name) => informers.map((i) => i.get(namespace, name)).find(Boolean) };
}

function reference(resource: Resource, namespace: string, name: string, uid: string) {
  return { apiVersion: API_VERSION, kind: resource.kind, namespace, name, uid };
}

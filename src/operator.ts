import { isIP } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { EVENT_RAISES, EVENT_RELAYS, SUBSCRIBERS, type Resource } from './api/types.js';
import type { OperatorConfig } from './config.js';
import { cachedRaise, cachedSubscriber } from './core/cache-transform.js';
import type { SubscriberIndex } from './core/subscriber-index.js';
import { clampTimerMs } from './core/timer.js';
import type { ControllerSetup } from './controller/controller.js';
import { hostResolver, type ResolveHost } from './controller/host-resolver.js';
import { API_SERVER_ORIGIN, EgressPolicy } from './core/egress-policy.js';
import { Credentials } from './delivery/credentials.js';
import { EgressGuard, systemLookup, type LookupAll } from './delivery/egress-guard.js';
import { SecretStore } from './kube/secret-store.js';
import { RaiseController } from './controller/raise-controller.js';
import { SubscriberController } from './controller/subscriber-controller.js';
import { Dispatcher } from './delivery/dispatcher.js';
import { HttpSender } from './delivery/http-sender.js';
import { ApiClient, OPERATOR_RIGHTS, collectionPath } from './kube/api-client.js';
import { EventRecorder } from './kube/event-recorder.js';
import { ClusterError } from './kube/errors.js';
import { Informer, type KubeObject } from './kube/informer.js';
import { LeaderElector, leaderIdentity } from './kube/leader-election.js';
import { DeliveryObserver } from './observability/delivery-observer.js';
import { ProbeServer } from './observability/http-server.js';
import { Metrics } from './observability/metrics.js';
import { LogMessage } from './log-messages.js';
import { RelayController } from './relay/relay-controller.js';

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
 * Starts, leads and stops; the controllers declare the rest (their
 * informers, queues and reconcilers: controller/*-controller.ts).
 *
 * With --leader-elect the informers start and sync (ready) at once, but the
 * workers start only once this instance holds the Lease; losing it stops
 * them at once and resolves `leadershipLost` (main.ts then exits non-zero,
 * client-go's OnStoppedLeading convention).
 */
export class Operator {
  readonly metrics = new Metrics();
  private readonly api: ApiClient;
  private readonly sender: HttpSender;
  private readonly egress: EgressGuard;
  private readonly dispatcher: Dispatcher;
  private readonly recorder: EventRecorder;
  private readonly probes: ProbeServer;
  private readonly subscribers: SubscriberController;
  private readonly raises: RaiseController;
  private readonly relays: RelayController;
  private readonly setups: ControllerSetup[];
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
  /** The port the EventRelays are served on, once started. */
  relayPort = 0;

  constructor(private readonly deps: OperatorDeps) {
    const { config, log } = deps;
    const now = deps.now ?? (() => new Date());
    this.api = new ApiClient(deps.kubeConfig);
    this.recorder = new EventRecorder(this.api.kubeConfig, log, now);
    this.probes = new ProbeServer({ port: config.httpPort, registry: this.metrics.registry, isReady: () => this.ready });
    this.egress = new EgressGuard(EgressPolicy.fromFlags(config.egressDeny, config.egressAllow), deps.lookup ?? systemLookup);
    this.sender = new HttpSender({
      userAgent: config.userAgent,
      connectTimeoutMs: config.connectTimeoutMs,
      responseTimeoutMs: config.responseTimeoutMs,
      maxResponseBytes: config.maxResponseBytes,
      egress: this.egress,
      maxIdlePerServer: config.perSubscriberConcurrency,
    });
    const secrets = new SecretStore(this.api.kubeConfig, config.secretTtlMs);
    const credentials = new Credentials((namespace, name) => secrets.read(namespace, name));
    const namespaces = config.namespaces.length ? config.namespaces : [undefined];
    const informerFor = <T extends KubeObject>(resource: Resource, namespace: string | undefined) => this.informer<T>(resource, namespace);
    const shared = { informerFor, namespaces, api: this.api, metrics: this.metrics, now, log };

    let observer!: DeliveryObserver;
    this.subscribers = new SubscriberController({
      ...shared,
      resolveHost: deps.resolveHost ?? hostResolver(this.egress),
      credentials,
      warn: (subscriber, reason, message) => observer.warn(subscriber, reason, message),
      config,
    });
    observer = new DeliveryObserver(this.metrics, this.recorder, this.subscribers.health, now);
    this.dispatcher = new Dispatcher(this.sender, config.perSubscriberConcurrency, (key, attempt) => observer.attempted(key, attempt));
    this.raises = new RaiseController({ ...shared, index: this.subscribers.index, dispatcher: this.dispatcher, credentials, observer, config });
    // EventRelays: served by every replica; their reconciler runs on the leader.
    this.relays = new RelayController({
      ...shared,
      index: this.subscribers.index,
      dispatcher: this.dispatcher,
      credentials,
      observer,
      config,
      registry: this.metrics.registry,
      isReady: () => this.ready,
    });
    this.setups = [this.subscribers, this.raises, this.relays];
    this.metrics.leader.set(0);
    this.elector = config.leaderElect
      ? new LeaderElector({
          kubeConfig: this.api.kubeConfig,
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

  /** The Subscribers raises are matched against. */
  get index(): SubscriberIndex {
    return this.subscribers.index;
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
      await this.api.checkCrds([SUBSCRIBERS, EVENT_RAISES, EVENT_RELAYS]);
      await this.denyApiServer();
      this.relayPort = await this.relays.listen().catch((err: Error) => {
        throw new ClusterError(`cannot serve the relays on port ${this.deps.config.relayPort} (--relay-port): ${err.message}`);
      });
    } catch (err) {
      await this.relays.close();
      await this.probes.close();
      await this.api.close();
      throw err;
    }
    const informers = this.setups.flatMap((setup) => setup.informers);
    for (const informer of informers) informer.start();
    const synced = Promise.all(informers.map((i) => i.hasSynced)).then(() => true);
    if (!(await Promise.race([synced, this.stopping.then(() => false)]))) return;
    if (this.elector) this.elector.start({ onStartedLeading: () => void this.lead(), onStoppedLeading: (reason) => this.abdicate(reason) });
    else void this.lead();
    this.ready = true;
    this.deps.log.info(LogMessage.operatorStarted, {
      server: this.api.server,
      namespaces: this.deps.config.namespaces.length ? this.deps.config.namespaces : 'all',
      syncMode: this.deps.config.syncMode,
      useStructParam: this.deps.config.useStructParam,
      httpPort: this.httpPort,
      relayPort: this.relayPort,
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
    const relaysDrained = this.relays.drain(config.shutdownGraceMs);
    if (this.leading) {
      const inFlight = this.raises.inFlight;
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        this.raises.drain().then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), clampTimerMs(config.shutdownGraceMs)))),
      ]);
      clearTimeout(timer);
      const fields = { inFlight, remaining: this.raises.inFlight, ms: Math.round(performance.now() - started) };
      if (drained) log.info('stopping: raises in flight finished', fields);
      else log.warn('stopping: shutdown grace over with raises still in flight; they will be delivered again', fields);
    }
    const relayed = await relaysDrained;
    if (relayed.left > 0) log.warn('stopping: shutdown grace over with relayed events not delivered; they are lost', relayed);
    // Nothing is sent any more before the Lease goes to another instance.
    this.dispatcher.close();
    this.sender.close();
    await this.relays.close();
    await Promise.all(this.setups.map((setup) => setup.controller.stop()));
    for (const setup of this.setups) for (const informer of setup.informers) informer.stop();
    await this.elector?.stopAndRelease();
    this.setLeading(false);
    await this.recorder.flush();
    await this.api.close();
    await this.probes.close();
  }

  /** Leadership acquired (or no election): the workers start. */
  private async lead(): Promise<void> {
    if (this.stopped) return;
    if (this.elector) {
      this.deps.log.info(LogMessage.leaderAcquired, { identity: this.elector.identity, lease: this.elector.lock });
      for (const setup of this.setups) await setup.beforeLeading?.(() => this.stopped !== undefined);
      if (this.stopped) return;
    }
    this.setLeading(true);
    for (const setup of this.setups) setup.controller.start();
  }

  /** Leadership lost: no reconcile starts any more, at once; the caller must exit (main.ts). */
  private abdicate(reason: string): void {
    this.deps.log.error(LogMessage.leaderLost, { identity: this.elector?.identity, lease: this.elector?.lock, reason });
    this.setLeading(false);
    for (const setup of this.setups) setup.controller.queue.shutDown();
    this.markLost(reason);
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    this.metrics.leader.set(leading ? 1 : 0);
  }

  private informer<T extends KubeObject>(resource: Resource, namespace: string | undefined): Informer<T> {
    const transform = (resource === EVENT_RAISES ? cachedRaise : cachedSubscriber) as unknown as (obj: T) => T;
    return new Informer<T>({
      transform,
      kubeConfig: this.api.kubeConfig,
      path: collectionPath(resource, namespace),
      list: (continueToken) => this.api.list<T>(resource, namespace, continueToken),
      log: this.deps.log,
      rightsHint: OPERATOR_RIGHTS,
    });
  }
}

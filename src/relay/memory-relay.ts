import type { Logger } from 'winston';
import type { EventRelay } from '../api/relay-types.js';
import type { EventRaise } from '../api/types.js';
import { rfc3339 } from '../core/conditions.js';
import type { EventParam } from '../core/event-params.js';
import { objectKey, type ObjectKey } from '../core/object-key.js';
import { RaiseScheduler, type SchedulerLimits } from '../core/raise-scheduler.js';
import { DEFAULT_QUEUE_SIZE } from '../core/relay-status.js';
import type { SubscriberIndex } from '../core/subscriber-index.js';
import { RaiseRun, type RaiseObserver, type RunDefaults } from '../controller/raise-run.js';
import type { Credentials } from '../delivery/credentials.js';
import type { Dispatcher } from '../delivery/dispatcher.js';

/** An accepted event this replica holds until every delivery of it has an outcome. */
interface HeldEvent {
  relayKey: string;
  relay: Pick<EventRelay, 'metadata'>;
  raise: EventRaise;
  sync: boolean;
  bytes: number;
}

interface RelayLoad {
  namespace: string;
  name: string;
  held: number;
  bytes: number;
}

export interface MemoryRelayDeps {
  dispatcher: Dispatcher;
  /** The TLS and credentials of Subscribers (spec.tls, spec.auth), as for raises. */
  credentials: Credentials;
  index: SubscriberIndex;
  defaults: RunDefaults;
  observer: RaiseObserver;
  log: Logger;
  now: () => Date;
  /** Fair shares across namespaces, as for raises; parked events are bounded by the queues themselves. */
  limits: Omit<SchedulerLimits, 'maxParkedPerNamespace'>;
  /** Bytes of events one relay holds at once, over its queueSize. */
  maxBytesPerRelay: number;
  /** An event's deliveries are over: `delivered` succeeded (async: were written), `failed` did not. */
  finished(relay: Pick<EventRelay, 'metadata'>, delivered: number, failed: number): void;
}

/**
 * Memory mode: accepted events wait in a bounded queue per relay, in this
 * replica only, and each goes to the relay namespace's matching Subscribers
 * as a raise would: one RaiseRun per event, started as the scheduler lets
 * it (fair across namespaces, in arrival order within one), so the
 * per-subscriber cap, retries and ordered delivery are the raises' own.
 * A relay's queue counts every event it holds until its deliveries are
 * over, so memory stays bounded whatever its subscribers do.
 */
export class MemoryRelay {
  private readonly scheduler: RaiseScheduler;
  private readonly waiting = new Map<ObjectKey, HeldEvent>();
  private readonly runs = new Map<ObjectKey, { run: RaiseRun; held: HeldEvent }>();
  private readonly loads = new Map<string, RelayLoad>();
  private seq = 0;
  private held = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly deps: MemoryRelayDeps) {
    this.scheduler = new RaiseScheduler({ ...deps.limits, maxParkedPerNamespace: Number.MAX_SAFE_INTEGER });
  }

  /** Takes the event when the relay has room for it; false when its queue is full. */
  offer(relay: EventRelay, call: { event: string; params: EventParam[] }, bytes: number, sync: boolean): boolean {
    const namespace = relay.metadata.namespace ?? '';
    const name = relay.metadata.name ?? '';
    const relayKey = `${namespace}/${name}`;
    let load = this.loads.get(relayKey);
    const size = relay.spec?.queueSize ?? DEFAULT_QUEUE_SIZE;
    if (load && (load.held >= size || load.bytes + bytes > this.deps.maxBytesPerRelay)) return false;
    if (!load) this.loads.set(relayKey, (load = { namespace, name, held: 0, bytes: 0 }));
    load.held++;
    load.bytes += bytes;
    this.held++;
    const seq = ++this.seq;
    const key = objectKey(namespace, `${name}#${seq}`);
    const raise: EventRaise = {
      kind: 'EventRelay',
      metadata: { namespace, name, uid: `${relay.metadata.uid ?? ''}#${seq}` },
      spec: { event: call.event, params: call.params },
    };
    this.waiting.set(key, { relayKey, relay: { metadata: { namespace, name, uid: relay.metadata.uid ?? '' } }, raise, sync, bytes });
    if (this.scheduler.tryStart(key)) this.start(key);
    return true;
  }

  /** Events held per relay: waiting, or being delivered. */
  *depths(): Iterable<{ namespace: string; relay: string; depth: number }> {
    for (const load of this.loads.values()) yield { namespace: load.namespace, relay: load.name, depth: load.held };
  }

  get size(): number {
    return this.held;
  }

  /** Resolves once no event is held any more (the listener no longer offers any). */
  drained(): Promise<void> {
    if (this.held === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private start(key: ObjectKey): void {
    const held = this.waiting.get(key);
    if (!held) return;
    this.waiting.delete(key);
    const now = this.deps.now();
    const { namespace = '' } = held.raise.metadata;
    const matched = this.deps.index.match(namespace, held.raise.spec.event, now.getTime());
    if (matched.length === 0) return this.finish(key, held, 0, 0);
    const run = new RaiseRun(
      {
        key,
        raise: held.raise,
        sync: held.sync,
        todo: matched,
        counted: matched.map((s) => s.name),
        recorded: new Map(),
        startTime: rfc3339(now),
        startedAt: now.getTime(),
      },
      {
        dispatcher: this.deps.dispatcher,
        credentials: this.deps.credentials,
        index: this.deps.index,
        defaults: this.deps.defaults,
        observer: this.deps.observer,
        log: this.deps.log,
        settled: (k) => this.settled(k),
        parked: (k, parked) => {
          this.scheduler.setParked(k, parked);
          if (parked) this.grant();
        },
      },
    );
    this.runs.set(key, { run, held });
  }

  private settled(key: ObjectKey): void {
    const entry = this.runs.get(key);
    if (!entry?.run.done) return;
    const { run, held } = entry;
    this.runs.delete(key);
    if (run.sync) {
      let delivered = 0;
      for (const record of run.records.values()) if (record.outcome === 'Delivered') delivered++;
      this.finish(key, held, delivered, run.records.size - delivered);
    } else this.finish(key, held, run.written, run.notWritten);
  }

  private finish(key: ObjectKey, held: HeldEvent, delivered: number, failed: number): void {
    this.scheduler.remove(key);
    const load = this.loads.get(held.relayKey);
    if (load) {
      load.held--;
      load.bytes -= held.bytes;
      if (load.held === 0) this.loads.delete(held.relayKey);
    }
    this.held--;
    if (delivered + failed > 0) this.deps.finished(held.relay, delivered, failed);
    this.grant();
    if (this.held === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private grant(): void {
    for (const key of this.scheduler.grants()) if (this.scheduler.tryStart(key)) this.start(key);
  }
}

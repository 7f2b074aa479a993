import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'winston';
import { EVENT_RAISES, RaisePhase, REDELIVER_ANNOTATION, type DeliveryRecord, type EventRaise, type EventRaiseStatus } from '../api/types.js';
import { isSlimmed } from '../core/cache-transform.js';
import { rfc3339 } from '../core/conditions.js';
import { validateEvent } from '../core/event-params.js';
import { splitKey, type ObjectKey } from '../core/object-key.js';
import { asyncStatus, invalidStatus, isTerminal, noSubscribersStatus, syncStatus } from '../core/raise-status.js';
import type { RaiseScheduler } from '../core/raise-scheduler.js';
import type { SubscriberIndex } from '../core/subscriber-index.js';
import { TerminalLedger } from '../core/terminal-ledger.js';
import type { Credentials } from '../delivery/credentials.js';
import type { Dispatcher } from '../delivery/dispatcher.js';
import type { ApiClient } from '../kube/api-client.js';
import type { ObjectCache } from '../kube/informer.js';
import type { ReconcileResult, Reconciler } from './controller.js';
import { RaiseRun, type RaiseObserver, type RunDefaults } from './raise-run.js';
import { LogMessage } from '../log-messages.js';

/** A raise whose deliveries are still running shows its progress after this long, then at most this often. */
export const PROGRESS_WRITE_MS = 1_000;

export interface RaiseDefaults extends RunDefaults {
  syncMode: boolean;
}

export interface FinishObserver extends RaiseObserver {
  finished(raise: EventRaise, status: EventRaiseStatus): void;
}

/** The redeliver annotation's value when the raise has not answered it yet. */
function pendingRedelivery(raise: EventRaise): string | undefined {
  const value = raise.metadata.annotations?.[REDELIVER_ANNOTATION];
  return value !== undefined && value !== raise.status?.redelivered ? value : undefined;
}

/**
 * Delivers each EventRaise once to the subscribers that match it and writes
 * the outcome to its status.
 *
 * The reconcile never waits on a server: when the scheduler lets the raise
 * start, a RaiseRun starts its deliveries and the reconcile returns; each
 * settled delivery re-queues the raise, and the reconcile that finds the run
 * done writes the terminal status. A raise already terminal, in the cache or
 * in a write the cache has not caught up with (the ledger), is left alone.
 */
export class RaiseReconciler implements Reconciler {
  private readonly runs = new Map<ObjectKey, RaiseRun>();
  private readonly ledger = new TerminalLedger();
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly deps: {
      cache: ObjectCache<EventRaise>;
      index: SubscriberIndex;
      dispatcher: Dispatcher;
      /** Connection settings from the Subscribers' Secrets (spec.tls, spec.auth). */
      credentials: Credentials;
      scheduler: RaiseScheduler;
      api: ApiClient;
      defaults: RaiseDefaults;
      requeue: (key: ObjectKey) => void;
      observer: FinishObserver;
      now: () => Date;
      log: Logger;
    },
  ) {}

  get inFlight(): number {
    return this.runs.size;
  }

  /**
   * Takes terminal raises from a fresh read as written: a replica that becomes
   * leader may hold a cache that lags the previous leader's last writes, and
   * must not deliver those raises again meanwhile.
   */
  rememberTerminal(raises: readonly EventRaise[]): void {
    for (const raise of raises) {
      if (isTerminal(raise.status)) {
        const { namespace = '', name = '' } = raise.metadata;
        this.ledger.remember(`${namespace}/${name}` as ObjectKey, { uid: raise.metadata.uid ?? '', redelivered: raise.status?.redelivered });
      }
    }
  }

  /**
   * For a clean stop: raises not started yet stay Pending for the next
   * operator; raises in flight finish. Resolves once none is in flight.
   */
  drain(): Promise<void> {
    this.deps.scheduler.drain();
    if (this.runs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async reconcile(key: ObjectKey): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    let raise = this.deps.cache.get(namespace, name);
    const uid = raise?.metadata.uid ?? '';
    const stale = this.runs.get(key);
    if (stale && stale.uid !== uid) this.endRun(stale); // deleted, perhaps created again
    if (!raise) {
      this.deps.scheduler.remove(key);
      this.ledger.forget(key);
      return;
    }
    const terminal = isTerminal(raise.status);
    if (this.ledger.isAhead(key, { uid, redelivered: raise.status?.redelivered, terminal })) return;

    let run = this.runs.get(key);
    if (!run) {
      let redelivery = terminal ? pendingRedelivery(raise) : undefined;
      if (terminal && redelivery === undefined) {
        this.deps.scheduler.remove(key);
        return this.afterFinished(raise);
      }
      if (redelivery !== undefined && isSlimmed(raise)) {
        // The cache keeps neither params nor deliveries of a finished raise (core/cache-transform.ts).
        raise = await this.deps.api.get<EventRaise>(EVENT_RAISES, namespace, name);
        redelivery = isTerminal(raise.status) ? pendingRedelivery(raise) : undefined;
        if (redelivery === undefined) return;
      }
      run = await this.start(key, raise, redelivery);
      if (!run) return;
      // A redelivery writes its status on top of the whole object just read, not the slimmed cached one.
      if (redelivery !== undefined) run.latest = raise;
    }
    if (isSlimmed(raise) && run.latest) raise = run.latest;
    if (!run.done) return this.showProgress(run, raise);
    const status = run.sync
      ? syncStatus({ ...this.statusBase(raise, run), matched: run.counted, records: [...run.records.values()], unlisted: run.unlisted })
      : asyncStatus({ ...this.statusBase(raise, run), matched: run.counted.length, written: run.written, notWritten: run.notWritten });
    return this.finish(key, raise, status, run);
  }

  /** Starts the raise's run once the scheduler lets it. */
  private async start(key: ObjectKey, raise: EventRaise, redelivery: string | undefined): Promise<RaiseRun | undefined> {
    if (!this.deps.scheduler.tryStart(key)) return undefined;
    const base = this.statusBase(raise, undefined, redelivery !== undefined);
    const problems = validateEvent(raise.spec?.event ?? '', raise.spec?.params ?? []);
    if (problems.length > 0) {
      this.deps.scheduler.remove(key);
      if (redelivery === undefined) await this.finish(key, raise, invalidStatus({ ...base, problems }));
      return undefined;
    }
    const run = this.newRun(key, raise, base.startTime, redelivery);
    if (run.counted.length === 0) {
      this.deps.scheduler.remove(key);
      await this.finish(key, raise, noSubscribersStatus({ ...base, event: raise.spec.event }));
      return undefined;
    }
    this.runs.set(key, run);
    return run;
  }

  /**
   * A run of the raise: to every matching subscriber without a recorded
   * result; or, for a redelivery, to the ones whose recorded result failed
   * (every matching one when the raise records none, as async raises).
   */
  private newRun(key: ObjectKey, raise: EventRaise, startTime: string, redelivery: string | undefined): RaiseRun {
    const { namespace } = splitKey(key);
    const sync = raise.spec.syncMode ?? this.deps.defaults.syncMode;
    let matched = this.deps.index.match(namespace, raise.spec.event, this.deps.now().getTime());
    // Results recorded by an interrupted earlier run stand: at-least-once, not again-for-all.
    const recorded = sync ? (raise.status?.deliveries ?? []) : [];
    const records = new Map<string, DeliveryRecord>(recorded.map((r) => [r.subscriber, r]));
    let unlisted: { delivered: number; failed: number } | undefined;
    if (redelivery !== undefined && recorded.length > 0) {
      const failed = new Set(recorded.filter((r) => r.outcome === 'Failed').map((r) => r.subscriber));
      matched = matched.filter((s) => failed.has(s.name));
      for (const s of matched) records.delete(s.name);
      const listedDelivered = recorded.length - failed.size;
      unlisted = {
        delivered: Math.max((raise.status?.delivered ?? 0) - listedDelivered, 0),
        failed: Math.max((raise.status?.failed ?? 0) - failed.size, 0),
      };
    }
    return new RaiseRun(
      {
        key,
        raise,
        sync,
        todo: matched.filter((s) => !records.has(s.name)),
        counted: [...new Set([...records.keys(), ...matched.map((s) => s.name)])],
        recorded: records,
        startTime,
        startedAt: this.deps.now().getTime(),
        ...(redelivery !== undefined ? { redelivery } : {}),
        ...(unlisted ? { unlisted } : {}),
      },
      {
        dispatcher: this.deps.dispatcher,
        credentials: this.deps.credentials,
        index: this.deps.index,
        defaults: this.deps.defaults,
        observer: this.deps.observer,
        log: this.deps.log,
        settled: (k) => this.deps.requeue(k),
        parked: (k, parked) => {
          this.deps.scheduler.setParked(k, parked);
          if (parked) this.grant();
        },
      },
    );
  }

  /**
   * A raise still running after PROGRESS_WRITE_MS shows it: Pending, its
   * startTime, Complete=False (Delivering) and, in sync mode, the results so
   * far; then again at most every PROGRESS_WRITE_MS while results come in.
   * A redelivery keeps the raise's terminal status until it has a new one.
   */
  private async showProgress(run: RaiseRun, raise: EventRaise): Promise<ReconcileResult | void> {
    if (run.redelivery !== undefined) return;
    const unchanged = run.recordedAtLastWrite !== undefined && (!run.sync || run.records.size === run.recordedAtLastWrite);
    if (unchanged) return;
    const wait = run.lastWriteAt + PROGRESS_WRITE_MS - this.deps.now().getTime();
    if (wait > 0) return { requeueAfterMs: wait };
    const status = syncStatus({ ...this.statusBase(raise, run), matched: run.counted, records: run.sync ? [...run.records.values()] : [] });
    run.latest = await this.write(run.latest ?? raise, status, run);
    run.recordedAtLastWrite = run.records.size;
    run.lastWriteAt = this.deps.now().getTime();
  }

  /** What every status of this raise starts from; a redelivery gets a new completionTime. */
  private statusBase(raise: EventRaise, run: RaiseRun | undefined, redelivery = run?.redelivery !== undefined) {
    const now = this.deps.now();
    return {
      generation: raise.metadata.generation ?? 1,
      previous: redelivery ? { ...raise.status, completionTime: undefined } : raise.status,
      startTime: run?.startTime ?? raise.status?.startTime ?? rfc3339(now),
      now,
    };
  }

  /** Writes a terminal status, on top of the run's last progress write when there is a run. */
  private async finish(key: ObjectKey, raise: EventRaise, status: EventRaiseStatus, run?: RaiseRun): Promise<void> {
    const written = await this.write(run?.latest ?? raise, status, run);
    this.ledger.remember(key, { uid: written.metadata.uid ?? '', redelivered: written.status?.redelivered });
    if (run) this.endRun(run);
    const final = written.status ?? status;
    // A raise that reached everyone is debug: at hundreds of raises a second an
    // info line each cost a tenth of the operator's CPU (winston, a write each).
    const succeeded = final.phase === RaisePhase.Delivered || final.phase === RaisePhase.Dispatched;
    if (!succeeded || this.deps.log.isDebugEnabled()) {
      const { namespace, name } = splitKey(key);
      this.deps.log.log(succeeded ? 'debug' : 'info', LogMessage.raiseFinished, {
        namespace,
        name,
        event: raise.spec?.event,
        phase: final.phase,
        matched: final.matched,
        delivered: final.delivered,
        failed: final.failed,
      });
    }
    this.deps.observer.finished(raise, final);
  }

  /** The run is over (done, or its raise deleted): its slot goes to the next raise in line. */
  private endRun(run: RaiseRun): void {
    if (!run.done) run.cancel();
    this.runs.delete(run.key);
    this.deps.scheduler.remove(run.key);
    this.grant();
    if (this.runs.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Re-queues the raises the scheduler gives a free slot; they start in their next reconcile. */
  private grant(): void {
    for (const key of this.deps.scheduler.grants()) this.deps.requeue(key);
  }

  /** A finished raise with spec.ttlSecondsAfterFinished is deleted once that time has passed. */
  private async afterFinished(raise: EventRaise): Promise<ReconcileResult | void> {
    const ttl = raise.spec?.ttlSecondsAfterFinished;
    const finishedAt = Date.parse(raise.status?.completionTime ?? '');
    if (ttl === undefined || Number.isNaN(finishedAt)) return;
    const left = finishedAt + ttl * 1000 - this.deps.now().getTime();
    if (left > 0) return { requeueAfterMs: left };
    await this.deps.api.delete(EVENT_RAISES, raise);
    this.deps.log.info('finished raise deleted after its ttl', { namespace: raise.metadata.namespace, name: raise.metadata.name, ttlSecondsAfterFinished: ttl });
  }

  /** A conflict makes the next try start from the cache rather than the run's last write. */
  private async write(raise: EventRaise, status: EventRaiseStatus, run: RaiseRun | undefined): Promise<EventRaise> {
    // A terminal status answers the redeliver annotation present when it is written, so
    // that only a value set afterwards asks for another delivery.
    const redeliver = raise.metadata.annotations?.[REDELIVER_ANNOTATION];
    if (isTerminal(status) && redeliver !== undefined) status = { ...status, redelivered: redeliver };
    if (isDeepStrictEqual(status, raise.status)) return raise;
    try {
      return await this.deps.api.replaceStatus(EVENT_RAISES, raise, status);
    } catch (err) {
      if (run) run.latest = undefined;
      throw err;
    }
  }
}

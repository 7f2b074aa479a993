import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'winston';
import { EVENT_RAISES, REDELIVER_ANNOTATION, type DeliveryRecord, type EventRaise, type EventRaiseStatus } from '../api/types.js';
import { rfc3339 } from '../core/conditions.js';
import { validateEvent } from '../core/event-params.js';
import { encodeMethodCall } from '../core/method-call.js';
import { truncate } from '../core/text.js';
import { resolveDeliveryPolicy, type DeliveryPolicy } from '../core/retry-policy.js';
import { asyncStatus, invalidStatus, isTerminal, noSubscribersStatus, syncStatus } from '../core/raise-status.js';
import type { SubscriberEntry, SubscriberIndex } from '../core/subscriber-index.js';
import type { DispatchResult, Dispatcher } from '../delivery/dispatcher.js';
import type { ApiClient } from '../kube/api-client.js';
import type { ObjectCache } from '../kube/informer.js';
import type { ReconcileResult, Reconciler } from './controller.js';

/** A sync raise whose deliveries are still running records what it has after this long. */
export const PROGRESS_WRITE_MS = 1_000;

/** Told of every delivery outcome and finished raise: metrics, Events. */
export interface RaiseObserver {
  delivered(subscriber: SubscriberEntry, raise: EventRaise, result: DispatchResult): void;
  finished(raise: EventRaise, status: EventRaiseStatus): void;
}

export interface RaiseLimits {
  /**
   * Raises delivered at once at most; the others wait their turn in creation
   * order. It bounds memory and sockets under a flood, and the raises a crash
   * can leave delivered but not yet recorded.
   */
  maxInFlight: number;
}

export interface RaiseDefaults {
  syncMode: boolean;
  useStructParam: boolean;
  delivery: DeliveryPolicy;
}

/** The deliveries of one raise, running outside the worker that started them. */
interface Job {
  uid: string;
  sync: boolean;
  startTime: string;
  startedAt: number;
  /** Every subscriber the raise counts: matched now, or recorded by an earlier run. */
  subscribers: string[];
  records: Map<string, DeliveryRecord>;
  written: number;
  notWritten: number;
  pending: number;
  /** The object our last progress write returned: the base of the next write. */
  latest?: EventRaise;
  recordedAtLastWrite: number;
  lastWriteAt: number;
  /** The eventxmlrpc.io/redeliver value this job answers, for a finished raise delivered again. */
  redelivery?: string;
  /** Results a redelivery keeps that status.deliveries no longer lists (it is capped). */
  unlisted?: { delivered: number; failed: number };
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
 * The reconcile never waits on a server: it starts the deliveries and returns;
 * each finished delivery re-queues the raise, and the reconcile that finds
 * them all finished writes the terminal status. A raise already terminal, in
 * the cache or in a write the cache has not caught up with, is left alone.
 */
export class RaiseReconciler implements Reconciler {
  private readonly jobs = new Map<string, Job>();
  /** Raises whose terminal status we wrote, until the informer shows it. */
  private readonly finished = new Map<string, { uid: string; redelivered: string | undefined }>();

  constructor(
    private readonly deps: {
      cache: ObjectCache<EventRaise>;
      index: SubscriberIndex;
      dispatcher: Dispatcher;
      api: ApiClient;
      defaults: RaiseDefaults;
      limits: RaiseLimits;
      requeue: (key: string) => void;
      observer: RaiseObserver;
      now: () => Date;
      log: Logger;
    },
  ) {}

  private draining = false;
  /** Raises waiting for an in-flight slot, in the order they asked. */
  private readonly waiting = new Set<string>();
  private idleWaiters: Array<() => void> = [];

  get inFlight(): number {
    return this.jobs.size;
  }

  /**
   * Takes terminal raises from a fresh read as written: a replica that becomes
   * leader may hold a cache that lags the previous leader's last writes, and
   * must not deliver those raises again meanwhile.
   */
  rememberTerminal(raises: readonly EventRaise[]): void {
    for (const raise of raises) {
      if (isTerminal(raise.status)) {
        this.finished.set(`${raise.metadata.namespace}/${raise.metadata.name}`, { uid: raise.metadata.uid ?? '', redelivered: raise.status?.redelivered });
      }
    }
  }

  /**
   * For a clean stop: raises not started yet stay Pending for the next
   * operator; raises in flight finish. Resolves once none is in flight.
   */
  drain(): Promise<void> {
    this.draining = true;
    if (this.jobs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const [namespace = '', name = ''] = key.split('/');
    const raise = this.deps.cache.get(namespace, name);
    if (!raise) {
      this.leaveLine(key);
      this.forgetJob(key);
      this.finished.delete(key);
      return;
    }
    const uid = raise.metadata.uid ?? '';
    const done = this.finished.get(key);
    if (done?.uid === uid) {
      // The cache has not caught up with our terminal write yet.
      if (!isTerminal(raise.status) || raise.status?.redelivered !== done.redelivered) return;
      this.finished.delete(key);
    }
    if (this.jobs.has(key) && this.jobs.get(key)!.uid !== uid) this.forgetJob(key); // deleted and created again

    let job = this.jobs.get(key);
    if (!job) {
      const redelivery = isTerminal(raise.status) ? pendingRedelivery(raise) : undefined;
      if (isTerminal(raise.status) && redelivery === undefined) {
        this.leaveLine(key);
        return this.afterFinished(raise);
      }
      if (this.draining || !this.mayStart(key)) return;
      const base = this.statusBase(raise, redelivery !== undefined);
      const problems = validateEvent(raise.spec?.event ?? '', raise.spec?.params ?? []);
      if (problems.length > 0) return redelivery === undefined ? this.finish(key, raise, invalidStatus({ ...base, problems })) : undefined;
      job = this.start(key, raise, base.startTime, redelivery);
      if (job.subscribers.length === 0) return this.finish(key, raise, noSubscribersStatus({ ...base, event: raise.spec.event }));
      this.jobs.set(key, job);
    }
    const base = { ...this.statusBase(raise, job.redelivery !== undefined), startTime: job.startTime };

    if (job.pending > 0) {
      // A redelivery keeps the raise's terminal status until it has a new one.
      if (!job.sync || job.redelivery !== undefined || job.records.size === job.recordedAtLastWrite) return;
      const wait = Math.max(job.startedAt, job.lastWriteAt) + PROGRESS_WRITE_MS - Date.now();
      if (wait > 0) return { requeueAfterMs: wait };
      const status = syncStatus({ ...base, matched: job.subscribers, records: [...job.records.values()] });
      job.latest = await this.writeFor(job, raise, status);
      job.recordedAtLastWrite = job.records.size;
      job.lastWriteAt = Date.now();
      return;
    }

    const status = job.sync
      ? syncStatus({ ...base, matched: job.subscribers, records: [...job.records.values()], unlisted: job.unlisted })
      : asyncStatus({ ...base, matched: job.subscribers.length, written: job.written, notWritten: job.notWritten });
    return this.finish(key, raise, status, job);
  }

  /** What every status of this raise starts from; a redelivery gets a new completionTime. */
  private statusBase(raise: EventRaise, redelivery: boolean) {
    const now = this.deps.now();
    return {
      generation: raise.metadata.generation ?? 1,
      previous: redelivery ? { ...raise.status, completionTime: undefined } : raise.status,
      startTime: raise.status?.startTime ?? rfc3339(now),
      now,
    };
  }

  /**
   * Starts the deliveries of a raise: to every matching subscriber without a
   * recorded result; or, for a redelivery, to the ones whose recorded result
   * failed (every matching one when the raise records none, as async raises).
   */
  private start(key: string, raise: EventRaise, startTime: string, redelivery?: string): Job {
    const sync = raise.spec.syncMode ?? this.deps.defaults.syncMode;
    let matched = this.deps.index.match(raise.metadata.namespace ?? '', raise.spec.event, this.deps.now().getTime());
    // Results recorded by an interrupted earlier run stand: at-least-once, not again-for-all.
    const recorded = sync ? (raise.status?.deliveries ?? []) : [];
    const records = new Map(recorded.map((r) => [r.subscriber, r]));
    let unlisted: Job['unlisted'];
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
    const todo = matched.filter((s) => !records.has(s.name));
    const job: Job = {
      uid: raise.metadata.uid ?? '',
      sync,
      startTime,
      startedAt: Date.now(),
      subscribers: [...new Set([...records.keys(), ...matched.map((s) => s.name)])],
      records,
      written: 0,
      notWritten: 0,
      pending: todo.length,
      recordedAtLastWrite: records.size,
      lastWriteAt: 0,
      redelivery,
      unlisted,
    };
    const bodies = new Map<string, string>();
    for (const subscriber of todo) {
      const useStructParam = subscriber.useStructParam ?? this.deps.defaults.useStructParam;
      const bodyKey = `${useStructParam}:${subscriber.target.method}`;
      let body = bodies.get(bodyKey);
      if (body === undefined) {
        body = encodeMethodCall({ method: subscriber.target.method, event: raise.spec.event, params: raise.spec.params ?? [], useStructParam });
        bodies.set(bodyKey, body);
      }
      this.deliver(key, raise, job, subscriber, body);
    }
    return job;
  }

  private deliver(key: string, raise: EventRaise, job: Job, subscriber: SubscriberEntry, body: string): void {
    const [namespace, raiseName] = key.split('/');
    const delivery = this.deps.dispatcher.send(`${subscriber.namespace}/${subscriber.name}`, subscriber.target, body, {
      ...resolveDeliveryPolicy(subscriber.delivery, this.deps.defaults.delivery),
      retryAfterWrite: job.sync,
    });
    const settle = () => {
      job.pending--;
      this.deps.requeue(key);
    };
    const logResult = (result: DispatchResult) => {
      const fields = { namespace, name: raiseName, subscriber: subscriber.name, url: subscriber.target.url, ...result };
      if (result.outcome === 'Delivered') this.deps.log.debug('delivered', fields);
      else this.deps.log.warn('delivery failed', fields);
      this.deps.observer.delivered(subscriber, raise, result);
    };
    // A throwing logger or observer must neither crash the process nor leave the raise waiting.
    if (job.sync) {
      void delivery.result
        .then((result) => {
          job.records.set(subscriber.name, toRecord(subscriber, result));
          logResult(result);
        })
        .catch((err: unknown) => this.deps.log.error('after a delivery', { namespace, name: raiseName, error: String(err) }))
        .finally(settle);
    } else {
      void delivery.written.then((written) => {
        if (written) job.written++;
        else job.notWritten++;
        settle();
      });
      void delivery.result.then(logResult).catch((err: unknown) => this.deps.log.error('after a delivery', { namespace, name: raiseName, error: String(err) }));
    }
  }

  /** Writes a terminal status, on top of the job's last progress write when there is a job. */
  private async finish(key: string, raise: EventRaise, status: EventRaiseStatus, job?: Job): Promise<void> {
    const written = job ? await this.writeFor(job, raise, status) : await this.write(raise, status);
    this.finished.set(key, { uid: written.metadata.uid ?? '', redelivered: written.status?.redelivered });
    this.forgetJob(key);
    this.reportFinished(key, raise, written.status ?? status);
  }

  /** Writes on top of the job's last progress write; a conflict makes the next try start from the cache. */
  private async writeFor(job: Job, raise: EventRaise, status: EventRaiseStatus): Promise<EventRaise> {
    try {
      return await this.write(job.latest ?? raise, status);
    } catch (err) {
      job.latest = undefined;
      throw err;
    }
  }

  private reportFinished(key: string, raise: EventRaise, status: EventRaiseStatus): void {
    const [namespace, name] = key.split('/');
    this.deps.log.info('raise finished', {
      namespace,
      name,
      event: raise.spec?.event,
      phase: status.phase,
      matched: status.matched,
      delivered: status.delivered,
      failed: status.failed,
    });
    this.deps.observer.finished(raise, status);
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

  /** A raise starts when a slot is free and no older raise waits for one; else it joins the line. */
  private mayStart(key: string): boolean {
    const head = this.waiting.values().next();
    if (this.jobs.size < this.deps.limits.maxInFlight && (head.done || head.value === key)) {
      this.waiting.delete(key);
      this.callNext(); // a further free slot goes to the next in line
      return true;
    }
    this.waiting.add(key);
    return false;
  }

  private leaveLine(key: string): void {
    if (this.waiting.delete(key)) this.callNext();
  }

  /** Re-queues the raise at the head of the line when a slot is free; it starts in its next reconcile. */
  private callNext(): void {
    const head = this.waiting.values().next();
    if (!head.done && this.jobs.size < this.deps.limits.maxInFlight) this.deps.requeue(head.value);
  }

  private forgetJob(key: string): void {
    this.jobs.delete(key);
    this.callNext();
    if (this.jobs.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private async write(raise: EventRaise, status: EventRaiseStatus): Promise<EventRaise> {
    // A terminal status answers the redeliver annotation present when it is written, so
    // that only a value set afterwards asks for another delivery.
    const redeliver = raise.metadata.annotations?.[REDELIVER_ANNOTATION];
    if (isTerminal(status) && redeliver !== undefined) status = { ...status, redelivered: redeliver };
    if (isDeepStrictEqual(status, raise.status)) return raise;
    return this.deps.api.replaceStatus(EVENT_RAISES, raise, status);
  }
}

function toRecord(subscriber: SubscriberEntry, result: DispatchResult): DeliveryRecord {
  const record: DeliveryRecord = {
    subscriber: subscriber.name,
    url: subscriber.target.url,
    method: subscriber.target.method,
    outcome: result.outcome,
    attempts: result.attempts,
    durationMs: result.durationMs,
  };
  if (result.httpStatus !== undefined) record.httpStatus = result.httpStatus;
  if (result.faultCode !== undefined) record.faultCode = result.faultCode;
  if (result.faultString !== undefined) record.faultString = truncate(result.faultString);
  if (result.error !== undefined) record.error = truncate(result.error);
  return record;
}

import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'winston';
import { EVENT_RAISES, REDELIVER_ANNOTATION, type DeliveryRecord, type EventRaise, type EventRaiseStatus } from '../api/types.js';
import { rfc3339 } from '../core/conditions.js';
import { validateEvent } from '../core/event-params.js';
import { encodeMethodCall } from '../core/method-call.js';
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
  /** The eventxmlrpc.io/redeliver value this job answers, for a finished raise delivered again. */
  redelivery?: string;
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
      requeue: (key: string) => void;
      observer: RaiseObserver;
      now: () => Date;
      log: Logger;
    },
  ) {}

  private draining = false;
  private idleWaiters: Array<() => void> = [];

  get inFlight(): number {
    return this.jobs.size;
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
    const uid = raise?.metadata.uid ?? '';
    if (!raise) {
      this.forgetJob(key);
      this.finished.delete(key);
      return;
    }
    const done = this.finished.get(key);
    if (done?.uid === uid) {
      // The cache has not caught up with our terminal write yet.
      if (!isTerminal(raise.status) || raise.status?.redelivered !== done.redelivered) return;
      this.finished.delete(key);
    }
    if (this.jobs.get(key)?.uid !== uid) this.jobs.delete(key);
    const redeliver = raise.metadata.annotations?.[REDELIVER_ANNOTATION];
    if (isTerminal(raise.status) && !this.jobs.has(key)) {
      const invalid = validateEvent(raise.spec?.event ?? '', raise.spec?.params ?? []).length > 0;
      if (redeliver === undefined || redeliver === raise.status?.redelivered || invalid) return this.afterFinished(raise);
      if (this.draining) return;
      this.jobs.set(key, this.start(key, raise, raise.status?.startTime ?? rfc3339(this.deps.now()), redeliver));
    }

    const base = {
      generation: raise.metadata.generation ?? 1,
      previous: raise.status,
      startTime: raise.status?.startTime ?? rfc3339(this.deps.now()),
      now: this.deps.now(),
    };
    const problems = validateEvent(raise.spec?.event ?? '', raise.spec?.params ?? []);
    if (problems.length > 0) return this.finish(key, raise, invalidStatus({ ...base, problems }));

    let job = this.jobs.get(key);
    if (!job) {
      if (this.draining) return;
      job = this.start(key, raise, base.startTime);
      if (job.subscribers.length === 0) return this.finish(key, raise, noSubscribersStatus({ ...base, event: raise.spec.event }));
      this.jobs.set(key, job);
    }
    base.startTime = job.startTime;

    if (job.pending > 0) {
      // A redelivery keeps the raise's terminal status until it has a new one.
      if (!job.sync || job.redelivery !== undefined || job.records.size === job.recordedAtLastWrite) return;
      const wait = job.startedAt + PROGRESS_WRITE_MS - Date.now();
      if (wait > 0) return { requeueAfterMs: wait };
      const status = syncStatus({ ...base, matched: job.subscribers, records: [...job.records.values()] });
      job.latest = await this.write(job.latest ?? raise, status);
      job.recordedAtLastWrite = job.records.size;
      return;
    }

    if (job.redelivery !== undefined) base.previous = { ...raise.status, completionTime: undefined };
    const status = job.sync
      ? syncStatus({ ...base, matched: job.subscribers, records: [...job.records.values()] })
      : asyncStatus({ ...base, matched: job.subscribers.length, written: job.written, notWritten: job.notWritten });
    if (job.redelivery !== undefined) status.redelivered = job.redelivery;
    try {
      return await this.finish(key, job.latest ?? raise, status);
    } catch (err) {
      job.latest = undefined; // a conflict: retry on top of what the cache holds then
      throw err;
    }
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
    if (redelivery !== undefined && recorded.length > 0) {
      const failed = new Set(recorded.filter((r) => r.outcome === 'Failed').map((r) => r.subscriber));
      matched = matched.filter((s) => failed.has(s.name));
      for (const s of matched) records.delete(s.name);
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
      redelivery,
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
      this.deps.observer.delivered(subscriber, raise, result);
      const fields = { namespace, name: raiseName, subscriber: subscriber.name, url: subscriber.target.url, ...result };
      if (result.outcome === 'Delivered') this.deps.log.debug('delivered', fields);
      else this.deps.log.warn('delivery failed', fields);
    };
    if (job.sync) {
      void delivery.result.then((result) => {
        logResult(result);
        job.records.set(subscriber.name, toRecord(subscriber, result));
        settle();
      });
    } else {
      void delivery.written.then((written) => {
        if (written) job.written++;
        else job.notWritten++;
        settle();
      });
      void delivery.result.then(logResult);
    }
  }

  private async finish(key: string, raise: EventRaise, status: EventRaiseStatus): Promise<void> {
    const written = await this.write(raise, status);
    this.forgetJob(key);
    this.finished.set(key, { uid: written.metadata.uid ?? '', redelivered: written.status?.redelivered });
    this.deps.observer.finished(raise, status);
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

  private forgetJob(key: string): void {
    this.jobs.delete(key);
    if (this.jobs.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private async write(raise: EventRaise, status: EventRaiseStatus): Promise<EventRaise> {
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

/** Server-supplied text is kept short: a raise's status must stay far below the object size limit. */
const MAX_TEXT = 1024;

function truncate(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT - 1)}…`;
}

import type { Logger } from 'winston';
import type { DeliveryRecord, EventRaise } from '../api/types.js';
import type { EventParam } from '../core/event-params.js';
import { encodeMethodCall } from '../core/method-call.js';
import { splitKey, type ObjectKey } from '../core/object-key.js';
import { resolveDeliveryPolicy, type DeliveryPolicy } from '../core/retry-policy.js';
import type { SubscriberEntry, SubscriberIndex } from '../core/subscriber-index.js';
import { truncate } from '../core/text.js';
import type { Credentials } from '../delivery/credentials.js';
import { NOT_SENT, type DispatchResult, type Dispatcher, type PreparedAttempt } from '../delivery/dispatcher.js';
import type { ConnectionSettings } from '../delivery/http-sender.js';

const KEEP_ALIVE: ConnectionSettings = { keepAlive: true };

/** Told of every delivery outcome and finished raise: metrics, Events, subscriber health. */
export interface RaiseObserver {
  delivered(subscriber: SubscriberEntry, raise: EventRaise, result: DispatchResult): void;
}

export interface RunDefaults {
  useStructParam: boolean;
  delivery: DeliveryPolicy;
}

export interface RunDeps {
  dispatcher: Dispatcher;
  credentials: Credentials;
  index: SubscriberIndex;
  defaults: RunDefaults;
  observer: RaiseObserver;
  log: Logger;
  /** A delivery settled: the raise has news for its reconcile. */
  settled(key: ObjectKey): void;
  /** Every unfinished delivery now waits on its own subscriber alone (true), or one runs again (false). */
  parked(key: ObjectKey, parked: boolean): void;
}

export interface RunInput {
  key: ObjectKey;
  raise: EventRaise;
  sync: boolean;
  /** Matched subscribers still to deliver to. */
  todo: readonly SubscriberEntry[];
  /** Every subscriber the raise counts: matched now, or recorded by an earlier run. */
  counted: readonly string[];
  /** Results recorded by an earlier run, which stand. */
  recorded: ReadonlyMap<string, DeliveryRecord>;
  startTime: string;
  startedAt: number;
  /** The eventxmlrpc.io/redeliver value this run answers, for a finished raise delivered again. */
  redelivery?: string;
  /** Results a redelivery keeps that status.deliveries no longer lists (it is capped). */
  unlisted?: { delivered: number; failed: number };
}

/**
 * One raise's deliveries, from their start to their last outcome: it sends
 * to each subscriber through the dispatcher, keeps the records, and drops
 * what has not gone out yet when cancelled. The Subscriber is read again
 * before every attempt, so one deleted meanwhile gets nothing more, and one
 * whose socket changed gets its requests at the new address.
 */
export class RaiseRun {
  readonly key: ObjectKey;
  readonly uid: string;
  readonly sync: boolean;
  readonly startTime: string;
  readonly startedAt: number;
  readonly counted: readonly string[];
  readonly redelivery: string | undefined;
  readonly unlisted: { delivered: number; failed: number } | undefined;
  readonly records: Map<string, DeliveryRecord>;
  written = 0;
  notWritten = 0;
  /** Deliveries without an outcome yet. */
  pending: number;
  /** The object the last progress write returned: the base of the next write. */
  latest: EventRaise | undefined;
  /** Records at the last progress write; undefined before the first one. */
  recordedAtLastWrite: number | undefined;
  lastWriteAt: number;

  private readonly abort = new AbortController();
  private readonly bodies = new Map<string, string>();
  private event: string;
  private params: readonly EventParam[];
  private waiting = 0;
  private isParked = false;

  constructor(
    input: RunInput,
    private readonly deps: RunDeps,
  ) {
    this.key = input.key;
    this.uid = input.raise.metadata.uid ?? '';
    this.sync = input.sync;
    this.startTime = input.startTime;
    this.startedAt = input.startedAt;
    this.lastWriteAt = input.startedAt;
    this.counted = input.counted;
    this.redelivery = input.redelivery;
    this.unlisted = input.unlisted;
    this.records = new Map(input.recorded);
    this.event = input.raise.spec.event;
    this.params = input.raise.spec.params ?? [];
    this.pending = input.todo.length;
    for (const subscriber of input.todo) this.deliver(input.raise, subscriber);
  }

  get done(): boolean {
    return this.pending === 0;
  }

  get cancelled(): boolean {
    return this.abort.signal.aborted;
  }

  /**
   * Drops every delivery not on the wire yet (queued for a request slot, or
   * pausing before a retry) and lets go of the raise's params and bodies;
   * requests already sent may finish, and their outcomes are dropped too.
   */
  cancel(): void {
    this.abort.abort();
    this.bodies.clear();
    this.params = [];
  }

  private deliver(raise: EventRaise, subscriber: SubscriberEntry): void {
    const { namespace, name: raiseName } = splitKey(this.key);
    let sentTo = subscriber;
    const dispatch = this.deps.dispatcher.deliver({
      subscriberKey: `${subscriber.namespace}/${subscriber.name}`,
      retryAfterWrite: this.sync,
      ordered: subscriber.delivery?.ordered === true,
      signal: this.abort.signal,
      onWaiting: (waiting) => this.onWaiting(waiting),
      prepare: () => {
        const current = this.currentEntry(subscriber);
        if (typeof current === 'string') return { notSent: current };
        sentTo = current;
        return this.prepare(current);
      },
    });
    const report = (result: DispatchResult) => {
      if (result.notSent !== undefined) return;
      const delivered = result.outcome === 'Delivered';
      // winston formats a line before it filters it by level: at the event rates of a relay that costs.
      if (!delivered || this.deps.log.isDebugEnabled()) {
        const fields = { namespace, name: raiseName, subscriber: subscriber.name, url: sentTo.target.url, ...result };
        if (delivered) this.deps.log.debug('delivered', fields);
        else this.deps.log.warn('delivery failed', fields);
      }
      this.deps.observer.delivered(sentTo, raise, result);
    };
    const settle = () => {
      this.pending--;
      if (this.cancelled) return;
      this.updateParked();
      this.deps.settled(this.key);
    };
    const failedAfter = (err: unknown) => this.deps.log.error('after a delivery', { namespace, name: raiseName, error: String(err) });
    // A throwing logger or observer must neither crash the process nor leave the raise waiting.
    if (this.sync) {
      void dispatch.result
        .then((result) => {
          if (this.cancelled || result.notSent === NOT_SENT.stopping) return;
          this.records.set(subscriber.name, toRecord(subscriber.name, sentTo, result));
          report(result);
        })
        .catch(failedAfter)
        .finally(settle);
    } else {
      void dispatch.written.then((written) => {
        if (written) this.written++;
        else this.notWritten++;
        settle();
      });
      void dispatch.result.then(report).catch(failedAfter);
    }
  }

  /** The Subscriber as the index knows it now, or why nothing more goes to it. */
  private currentEntry(subscriber: SubscriberEntry): SubscriberEntry | string {
    const current = this.deps.index.get(subscriber.namespace, subscriber.name);
    if (!current || current.uid !== subscriber.uid) return 'not sent: the Subscriber was deleted or is not usable any more';
    if (current.event !== this.event) return `not sent: the Subscriber no longer subscribes to ${this.event}`;
    return current;
  }

  private async prepare(subscriber: SubscriberEntry): Promise<PreparedAttempt> {
    const useStructParam = subscriber.useStructParam ?? this.deps.defaults.useStructParam;
    const bodyKey = `${useStructParam}:${subscriber.target.method}`;
    let body = this.bodies.get(bodyKey);
    if (body === undefined) {
      body = encodeMethodCall({ method: subscriber.target.method, event: this.event, params: this.params, useStructParam });
      this.bodies.set(bodyKey, body);
    }
    const attempt: PreparedAttempt = { target: subscriber.target, body, delivery: resolveDeliveryPolicy(subscriber.delivery, this.deps.defaults.delivery) };
    const keepAlive = subscriber.delivery?.keepAlive === true;
    if (!subscriber.tls?.enabled && !subscriber.auth) return keepAlive ? { ...attempt, connection: KEEP_ALIVE } : attempt;
    // Secrets are read (through their cache) before every attempt: a rotated one takes effect without a restart.
    const result = await this.deps.credentials.settings(subscriber.namespace, subscriber.name, { tls: subscriber.tls, auth: subscriber.auth });
    if (result.ok === true) return { ...attempt, connection: keepAlive ? { ...result.settings, keepAlive } : result.settings };
    if (result.ok === false) return { ...attempt, refused: { error: `not sent: ${result.message}`, reason: result.reason } };
    return { ...attempt, refused: { error: `not sent: ${result.message}` } };
  }

  private onWaiting(waiting: boolean): void {
    this.waiting += waiting ? 1 : -1;
    this.updateParked();
  }

  private updateParked(): void {
    const parked = this.pending > 0 && this.waiting === this.pending;
    if (parked === this.isParked || this.cancelled) return;
    this.isParked = parked;
    this.deps.parked(this.key, parked);
  }
}

function toRecord(name: string, subscriber: SubscriberEntry, result: DispatchResult): DeliveryRecord {
  const record: DeliveryRecord = {
    subscriber: name,
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
  if (result.reason !== undefined) record.reason = result.reason;
  return record;
}

import { isRetryable, retryDelayMs, type DeliveryPolicy } from '../core/retry-policy.js';
import type { DeliveryTarget } from '../core/socket.js';
import type { ConnectionSettings, Delivery as SentAttempt, DeliveryResult as AttemptResult } from './http-sender.js';
import { Pause } from '../pause.js';
import { KeyedLimiter, NotStartedError } from './keyed-limiter.js';

/** What sends one attempt: one HTTP request and its response. */
export interface Sender {
  send(target: DeliveryTarget, body: string, responseTimeoutMs: number, connection?: ConnectionSettings): SentAttempt;
}

/** What the next attempt sends, read afresh before each attempt so that a changed Subscriber takes effect. */
export interface PreparedAttempt {
  target: DeliveryTarget;
  body: string;
  delivery: DeliveryPolicy;
  /** TLS and credential headers (spec.tls, spec.auth). */
  connection?: ConnectionSettings;
  /** Set when the attempt cannot be made (a Secret it needs is unusable): it fails with this, and nothing is sent. */
  refused?: { error: string; reason?: AttemptResult['reason'] };
}

/** One delivery: one raise to one subscriber, over as many attempts as its retry policy allows. */
export interface DeliveryRequest {
  subscriberKey: string;
  /** The attempt to send now, or why nothing is sent any more (the Subscriber was deleted, ...). */
  prepare(): PreparedAttempt | { notSent: string } | Promise<PreparedAttempt | { notSent: string }>;
  /**
   * Sync mode waits for responses, so an HTTP 5xx or 429 is retried too.
   * Async mode only retries a request that could not be written.
   */
  retryAfterWrite: boolean;
  /** Aborting drops the delivery: it leaves its subscriber's line and any retry pause; a request on the wire finishes. */
  signal?: AbortSignal;
  /** Told when the delivery starts or stops waiting on its subscriber alone: for a request slot, or in a retry pause. */
  onWaiting?(waiting: boolean): void;
  /**
   * The subscriber takes one request at a time, in the order deliver() was
   * called: the delivery holds the subscriber's only slot from its first
   * attempt to its outcome, retry pauses included, so nothing overtakes it.
   */
  ordered?: boolean;
}

export interface DispatchResult extends AttemptResult {
  attempts: number;
  /** Set when the delivery was dropped (aborted, or the Subscriber gone) rather than tried to the end. */
  notSent?: string;
}

export interface Dispatch {
  /** Settles true once an attempt was written to its connection, false when none could be. */
  written: Promise<boolean>;
  /** The last attempt's outcome, with the number of attempts and the time they took together. */
  result: Promise<DispatchResult>;
}

/** Why a delivery was dropped by the dispatcher itself. */
export const NOT_SENT = {
  /** Not an outcome: whoever runs the controllers next delivers it. */
  stopping: 'not sent: the operator is stopping',
  cancelled: 'not sent: the raise was deleted',
} as const;
const STOPPING = NOT_SENT.stopping;
const CANCELLED = NOT_SENT.cancelled;

/**
 * Delivers to one subscriber: a cap on its concurrent requests, so one slow
 * subscriber holds at most that many sockets while every other subscriber's
 * requests go out at once, and its retry policy. A retry waits without
 * holding a request slot, and only delays that subscriber's own delivery.
 */
export class Dispatcher {
  private readonly limiter: KeyedLimiter;
  private readonly pause = new Pause();
  private closed = false;

  constructor(
    private readonly sender: Sender,
    private readonly perSubscriberConcurrency: number,
    private readonly onAttempt: (subscriberKey: string, attempt: AttemptResult) => void = () => {},
  ) {
    this.limiter = new KeyedLimiter(perSubscriberConcurrency);
  }

  deliver(request: DeliveryRequest): Dispatch {
    let markWritten!: (written: boolean) => void;
    const written = new Promise<boolean>((resolve) => (markWritten = resolve));
    const started = performance.now();
    const { subscriberKey, signal } = request;
    const stopped = () => (this.closed ? STOPPING : signal?.aborted ? CANCELLED : undefined);
    let attempts = 0;
    let last: AttemptResult | undefined;
    const end = (extra: Partial<DispatchResult> = {}): DispatchResult => ({
      ...(last ?? { outcome: 'Failed', written: false }),
      ...extra,
      attempts,
      durationMs: Math.round(performance.now() - started),
    });
    const dropped = (reason: string) => end({ outcome: 'Failed', written: false, error: reason, notSent: reason });

    const limit = request.ordered ? 1 : this.perSubscriberConcurrency;
    /** Runs `task` in one of the subscriber's request slots, once it has one. */
    const inSlot = <T>(task: () => Promise<T>): Promise<T> => {
      const waits = this.limiter.queued(subscriberKey) > 0 || this.limiter.busy(subscriberKey, limit);
      if (waits) request.onWaiting?.(true);
      return this.limiter.run(
        subscriberKey,
        () => {
          if (waits) request.onWaiting?.(false);
          return task();
        },
        signal,
        limit,
      );
    };
    const send = async (): Promise<(AttemptResult & { policy: DeliveryPolicy['policy'] }) | { notSent: string }> => {
      const reason = stopped();
      if (reason) return { notSent: reason };
      const prepared = await request.prepare();
      if ('notSent' in prepared) return prepared;
      // Preparing may have waited on a Secret read: the raise may be gone by now.
      const late = stopped();
      if (late) return { notSent: late };
      attempts++;
      if (prepared.refused) {
        const { error, reason: why } = prepared.refused;
        const refused: AttemptResult = { outcome: 'Failed', written: false, error, durationMs: 0 };
        if (why) refused.reason = why;
        return { ...refused, policy: prepared.delivery.policy };
      }
      const sent = this.sender.send(prepared.target, prepared.body, prepared.delivery.responseTimeoutMs, prepared.connection);
      void sent.written.then((w) => w && markWritten(true));
      return sent.result.then((result) => ({ ...result, policy: prepared.delivery.policy }));
    };
    // Unordered, each attempt takes a slot of its own; ordered, one slot holds them all.
    const attempt = request.ordered ? send : () => inSlot(send);

    const attemptAll = async (): Promise<DispatchResult> => {
      try {
        for (;;) {
          const outcome = await attempt();
          if ('notSent' in outcome) return attempts === 0 || !last ? dropped(outcome.notSent) : end();
          const { policy, ...result } = outcome as AttemptResult & { policy: DeliveryPolicy['policy'] };
          last = result;
          this.onAttempt(subscriberKey, result);
          const again =
            attempts <= policy.limit && isRetryable(result, policy) && (request.retryAfterWrite || !result.written) && !stopped();
          if (!again) return end();
          request.onWaiting?.(true);
          await this.pause.sleep(retryDelayMs(policy, attempts, result.retryAfterMs), signal);
          request.onWaiting?.(false);
          const reason = stopped();
          if (reason) return signal?.aborted ? dropped(reason) : end();
        }
      } catch (err) {
        if (err instanceof NotStartedError) return dropped(stopped() ?? CANCELLED);
        return end({ outcome: 'Failed', written: false, error: String(err) });
      }
    };
    const result = (request.ordered ? inSlot(attemptAll) : attemptAll())
      .catch((err: unknown) => (err instanceof NotStartedError ? dropped(stopped() ?? CANCELLED) : end({ outcome: 'Failed', written: false, error: String(err) })))
      .finally(() => markWritten(false)); // no-op when an attempt was written
    return { written, result };
  }

  /** Stops retrying: pending pauses end now, and no attempt starts after them. */
  close(): void {
    this.closed = true;
    this.pause.cancel();
  }

  get maxPerSubscriber(): number {
    return this.perSubscriberConcurrency;
  }
}

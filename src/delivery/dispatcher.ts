import { isRetryable, retryDelayMs, type RetryPolicy } from '../core/retry-policy.js';
import type { DeliveryTarget } from '../core/socket.js';
import type { DeliveryResult, HttpSender } from './http-sender.js';
import { Pause } from '../pause.js';
import { KeyedLimiter } from './keyed-limiter.js';

const NOT_SENT: DeliveryResult = { outcome: 'Failed', written: false, error: 'not sent: the operator is stopping', durationMs: 0 };

export interface DispatchOptions {
  policy: RetryPolicy;
  responseTimeoutMs: number;
  /**
   * Sync mode waits for responses, so an HTTP 5xx or 429 is retried too.
   * Async mode only retries a request that could not be written.
   */
  retryAfterWrite: boolean;
}

export interface DispatchResult extends DeliveryResult {
  attempts: number;
}

export interface Dispatch {
  /** Settles true once an attempt was written to its connection, false when none could be. */
  written: Promise<boolean>;
  /** The last attempt's outcome, with the number of attempts and the time they took together. */
  result: Promise<DispatchResult>;
}

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
    private readonly sender: HttpSender,
    perSubscriberConcurrency: number,
    private readonly onAttempt: (subscriberKey: string, attempt: DeliveryResult) => void = () => {},
  ) {
    this.limiter = new KeyedLimiter(perSubscriberConcurrency);
  }

  send(subscriberKey: string, target: DeliveryTarget, body: string, options: DispatchOptions): Dispatch {
    let markWritten!: (written: boolean) => void;
    const written = new Promise<boolean>((resolve) => (markWritten = resolve));
    const started = performance.now();

    const result = (async (): Promise<DispatchResult> => {
      let attempts = 0;
      try {
        for (;;) {
          attempts++;
          const attempt = await this.limiter.run(subscriberKey, () => {
            if (this.closed) return Promise.resolve(NOT_SENT);
            const delivery = this.sender.send(target, body, options.responseTimeoutMs);
            void delivery.written.then((w) => w && markWritten(true));
            return delivery.result;
          });
          this.onAttempt(subscriberKey, attempt);
          const again =
            !this.closed &&
            attempts <= options.policy.limit &&
            isRetryable(attempt, options.policy) &&
            (options.retryAfterWrite || !attempt.written);
          if (!again) return { ...attempt, attempts, durationMs: Math.round(performance.now() - started) };
          await this.pause.sleep(retryDelayMs(options.policy, attempts, attempt.retryAfterMs));
          if (this.closed) return { ...attempt, attempts, durationMs: Math.round(performance.now() - started) };
        }
      } catch (err) {
        return { outcome: 'Failed', written: false, error: String(err), attempts, durationMs: Math.round(performance.now() - started) };
      } finally {
        markWritten(false); // no-op when an attempt was written
      }
    })();
    return { written, result };
  }

  /** Stops retrying: pending pauses end now, and no attempt starts after them. */
  close(): void {
    this.closed = true;
    this.pause.cancel();
  }
}

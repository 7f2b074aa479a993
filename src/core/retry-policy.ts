import type { DeliverySpec } from '../api/types.js';
import { parseDuration } from './duration.js';
import { clampTimerMs } from './timer.js';

/**
 * The maxima of Subscriber.spec.delivery, which the CRD enforces at admission
 * (crds/subscribers.eventxmlrpc.io.yaml) and the operator's flags may not
 * exceed either. With them one delivery lasts at most
 * (limit + 1) x (connect timeout + 2 x response timeout) + limit x maxDelay,
 * plus its wait for a per-subscriber slot: about 34 hours.
 */
export const DELIVERY_LIMITS = {
  timeoutSeconds: 300,
  retryLimit: 100,
  /** For initialDelay and maxDelay: 10m. */
  retryDelayMs: 600_000,
} as const;

/** How a subscriber's failed deliveries are retried (Subscriber.spec.delivery, else the operator's flags). */
export interface RetryPolicy {
  /** Retries after the first attempt; 0 never retries. */
  limit: number;
  backoff: 'exponential' | 'linear';
  initialDelayMs: number;
  maxDelayMs: number;
  /** XML-RPC fault codes worth another attempt; other faults are final. */
  retryOnFaultCodes: readonly number[];
}

/** What one attempt gave, as far as retrying cares. */
export interface AttemptOutcome {
  outcome: 'Delivered' | 'Failed';
  httpStatus?: number;
  faultCode?: number;
  /** From a Retry-After header on 429 or 503. */
  retryAfterMs?: number;
  /** Set on failures no retry can mend: a denied egress, a failed TLS handshake, an unusable Secret. */
  reason?: string;
}

/**
 * Retried: no HTTP answer at all (refused, reset, timeouts, DNS), HTTP 5xx and
 * 429. Final: other 4xx, XML-RPC faults unless their code is listed, and
 * failures with a reason (a denied egress, a failed TLS handshake, a Secret
 * that cannot be used): the same attempt would fail the same way.
 */
export function isRetryable(attempt: AttemptOutcome, policy: RetryPolicy): boolean {
  if (attempt.outcome === 'Delivered' || attempt.reason !== undefined) return false;
  const status = attempt.httpStatus;
  if (status === undefined) return true;
  if (status === 429 || status >= 500) return true;
  if (status >= 200 && status < 300) {
    return attempt.faultCode !== undefined && policy.retryOnFaultCodes.includes(attempt.faultCode);
  }
  return false;
}

const JITTER = 0.2;

/**
 * The pause before retry number `retry` (1 for the first retry): exponential
 * (initial, 2x, 4x, ...) or linear (initial, 2x, 3x, ...), capped at maxDelay,
 * spread by ±20% so that subscribers failing together do not retry together.
 * A server's Retry-After wins, capped at maxDelay too.
 */
export function retryDelayMs(policy: RetryPolicy, retry: number, retryAfterMs: number | undefined, random: () => number = Math.random): number {
  if (retryAfterMs !== undefined) return clampTimerMs(Math.min(Math.max(retryAfterMs, 0), policy.maxDelayMs));
  const steps = policy.backoff === 'exponential' ? 2 ** (retry - 1) : retry;
  const base = Math.min(policy.initialDelayMs * steps, policy.maxDelayMs);
  const jittered = base * (1 - JITTER + 2 * JITTER * random());
  return clampTimerMs(Math.round(Math.min(jittered, policy.maxDelayMs)));
}

/** Retry-After is delay-seconds or an HTTP-date (RFC 9110 10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/^[A-Za-z]{3}, /.test(text)) return undefined; // IMF-fixdate starts with the day name
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(at - now, 0);
}

export interface DeliveryPolicy {
  policy: RetryPolicy;
  responseTimeoutMs: number;
}

/**
 * A Subscriber's spec.delivery over the operator's defaults, field by field,
 * each held to DELIVERY_LIMITS: an object stored before the schema set them
 * (or past an older one) gets the limit, not its own value.
 */
export function resolveDeliveryPolicy(spec: DeliverySpec | undefined, defaults: DeliveryPolicy): DeliveryPolicy {
  const retry = spec?.retry;
  const duration = (text: string | undefined, fallback: number) =>
    Math.min(text === undefined ? fallback : (parseDuration(text) ?? fallback), DELIVERY_LIMITS.retryDelayMs);
  const timeoutMs = spec?.timeoutSeconds !== undefined ? spec.timeoutSeconds * 1000 : defaults.responseTimeoutMs;
  return {
    responseTimeoutMs: Math.min(timeoutMs, DELIVERY_LIMITS.timeoutSeconds * 1000),
    policy: {
      limit: Math.min(retry?.limit ?? defaults.policy.limit, DELIVERY_LIMITS.retryLimit),
      backoff: retry?.backoff ?? defaults.policy.backoff,
      initialDelayMs: duration(retry?.initialDelay, defaults.policy.initialDelayMs),
      maxDelayMs: duration(retry?.maxDelay, defaults.policy.maxDelayMs),
      retryOnFaultCodes: spec?.retryOnFaultCodes ?? defaults.policy.retryOnFaultCodes,
    },
  };
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DELIVERY_LIMITS, isRetryable, parseRetryAfter, resolveDeliveryPolicy, retryDelayMs, type RetryPolicy } from '../../src/core/retry-policy.js';
import { MAX_TIMER_MS } from '../../src/core/timer.js';

const policy: RetryPolicy = { limit: 5, backoff: 'exponential', initialDelayMs: 100, maxDelayMs: 1000, retryOnFaultCodes: [-32000] };

describe('isRetryable', () => {
  const cases: Array<[string, Parameters<typeof isRetryable>[0], boolean]> = [
    ['a success', { outcome: 'Delivered', httpStatus: 200 }, false],
    ['no HTTP answer (refused, timeout, DNS)', { outcome: 'Failed' }, true],
    ['HTTP 500', { outcome: 'Failed', httpStatus: 500 }, true],
    ['HTTP 503', { outcome: 'Failed', httpStatus: 503 }, true],
    ['HTTP 429', { outcome: 'Failed', httpStatus: 429 }, true],
    ['HTTP 404', { outcome: 'Failed', httpStatus: 404 }, false],
    ['HTTP 400', { outcome: 'Failed', httpStatus: 400 }, false],
    ['HTTP 301 (redirects are not followed)', { outcome: 'Failed', httpStatus: 301 }, false],
    ['a fault whose code is listed', { outcome: 'Failed', httpStatus: 200, faultCode: -32000 }, true],
    ['a fault whose code is not listed', { outcome: 'Failed', httpStatus: 200, faultCode: 4 }, false],
    ['a fault without a numeric code', { outcome: 'Failed', httpStatus: 200 }, false],
    ['a denied egress (no connection was made)', { outcome: 'Failed', reason: 'EgressDenied' }, false],
    ['a failed TLS handshake', { outcome: 'Failed', reason: 'TLSFailed' }, false],
    ['a Secret the operator may not read', { outcome: 'Failed', reason: 'SecretAccessDenied' }, false],
  ];
  for (const [what, attempt, expected] of cases) {
    it(`${expected ? 'retries' : 'does not retry'} ${what}`, () => assert.equal(isRetryable(attempt, policy), expected));
  }
});

describe('retryDelayMs', () => {
  const middle = () => 0.5; // no jitter
  it('grows exponentially from the initial delay, capped at maxDelay', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelayMs(policy, n, undefined, middle)), [100, 200, 400, 800, 1000]);
  });

  it('grows linearly when asked', () => {
    const linear = { ...policy, backoff: 'linear' as const };
    assert.deepEqual([1, 2, 3, 12].map((n) => retryDelayMs(linear, n, undefined, middle)), [100, 200, 300, 1000]);
  });

  it('spreads each delay by at most 20% either way, never past maxDelay', () => {
    assert.equal(retryDelayMs(policy, 2, undefined, () => 0), 160);
    assert.equal(retryDelayMs(policy, 2, undefined, () => 0.999999), 240);
    assert.equal(retryDelayMs(policy, 9, undefined, () => 0.999999), 1000);
  });

  it("honours the server's Retry-After, capped at maxDelay", () => {
    assert.equal(retryDelayMs(policy, 1, 700, middle), 700);
    assert.equal(retryDelayMs(policy, 1, 120_000, middle), 1000);
    assert.equal(retryDelayMs(policy, 3, 0, middle), 0);
  });
});

describe('retryDelayMs never leaves a timer to overflow', () => {
  it('clamps any pause, a Retry-After included, to what a Node timer keeps', () => {
    const huge = { ...policy, initialDelayMs: 1e15, maxDelayMs: 99999 * 60_000 };
    assert.equal(retryDelayMs(huge, 1, undefined, () => 0.5), MAX_TIMER_MS);
    assert.equal(retryDelayMs(huge, 60, undefined, () => 0.5), MAX_TIMER_MS);
    assert.equal(retryDelayMs(huge, 1, 99999 * 60_000, () => 0.5), MAX_TIMER_MS);
    assert.equal(retryDelayMs(policy, 1, Number.POSITIVE_INFINITY, () => 0.5), 1000);
  });
});

describe('resolveDeliveryPolicy', () => {
  const defaults = { responseTimeoutMs: 15_000, policy };

  it('takes each field from the spec, else from the defaults', () => {
    assert.deepEqual(resolveDeliveryPolicy({ timeoutSeconds: 2, retry: { maxDelay: '3s' } }, defaults), {
      responseTimeoutMs: 2000,
      policy: { ...policy, maxDelayMs: 3000 },
    });
    assert.deepEqual(resolveDeliveryPolicy(undefined, defaults), defaults);
  });

  it('holds an object from before the schema limits to them', () => {
    const resolved = resolveDeliveryPolicy({ timeoutSeconds: 3600, retry: { limit: 1000, initialDelay: '99999m', maxDelay: '35000m' } }, defaults);
    assert.deepEqual(resolved, {
      responseTimeoutMs: DELIVERY_LIMITS.timeoutSeconds * 1000,
      policy: { ...policy, limit: DELIVERY_LIMITS.retryLimit, initialDelayMs: DELIVERY_LIMITS.retryDelayMs, maxDelayMs: DELIVERY_LIMITS.retryDelayMs },
    });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('reads delay-seconds', () => assert.equal(parseRetryAfter('3', now), 3000));
  it('reads an HTTP-date', () => assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000));
  it('treats a past date as now', () => assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0));
  it('ignores what it cannot read', () => {
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-1', now), undefined);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_TIMER_MS, clampTimerMs } from '../../src/core/timer.js';

describe('clampTimerMs', () => {
  it('keeps delays a timer keeps, and holds longer ones to the longest', () => {
    assert.deepEqual([0, 1, 1500, MAX_TIMER_MS].map(clampTimerMs), [0, 1, 1500, MAX_TIMER_MS]);
    assert.deepEqual([MAX_TIMER_MS + 1, 99999 * 60_000, Number.POSITIVE_INFINITY].map(clampTimerMs), [MAX_TIMER_MS, MAX_TIMER_MS, MAX_TIMER_MS]);
  });

  it('makes negative and NaN delays 0', () => {
    assert.deepEqual([-5, Number.NaN, Number.NEGATIVE_INFINITY].map(clampTimerMs), [0, 0, 0]);
  });

  it('is what Node keeps: a clamped timer does not fire at once', async () => {
    let fired = false;
    const far = setTimeout(() => (fired = true), clampTimerMs(99999 * 60_000));
    await new Promise((resolve) => setTimeout(resolve, 30));
    clearTimeout(far);
    assert.equal(fired, false);
  });
});

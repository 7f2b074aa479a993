import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_TIMER_MS, clampTimerMs } from '../../src/core/timer.js';
import { Pause } from '../../src/pause.js';

describe('Pause', () => {
  it('cancel wakes every sleeper, not only the last', async () => {
    const pause = new Pause();
    const woke: number[] = [];
    const sleeps = [1, 2, 3].map((n) => pause.sleep(3_600_000).then(() => woke.push(n)));
    pause.cancel();
    await Promise.all(sleeps);
    assert.deepEqual(woke.sort(), [1, 2, 3]);
    await pause.sleep(3_600_000); // and later sleeps end at once
  });

  it('an aborted signal ends only its own sleep', async () => {
    const pause = new Pause();
    const abort = new AbortController();
    let other = false;
    void pause.sleep(3_600_000).then(() => (other = true));
    const mine = pause.sleep(3_600_000, abort.signal);
    abort.abort();
    await mine;
    await new Promise((r) => setImmediate(r));
    assert.equal(other, false);
    pause.cancel();
  });

  it('a delay past what timers hold is clamped instead of firing at once', async () => {
    assert.equal(clampTimerMs(99999 * 60_000), MAX_TIMER_MS);
    assert.equal(clampTimerMs(Number.POSITIVE_INFINITY), MAX_TIMER_MS);
    assert.equal(clampTimerMs(-5), 0);
    assert.equal(clampTimerMs(Number.NaN), 0);
    const pause = new Pause();
    let woke = false;
    void pause.sleep(99999 * 60_000).then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(woke, false, 'an overflowing timer would have fired after 1 ms');
    pause.cancel();
  });
});

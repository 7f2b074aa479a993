import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkQueue } from '../../src/controller/work-queue.js';
import type { ObjectKey } from '../../src/core/object-key.js';

/** A work-queue key as the controllers make them; these tests use bare names too. */
const k = (name: string) => name as ObjectKey;

describe('WorkQueue', () => {
  it('collapses repeated adds of a waiting key into one', async () => {
    const q = new WorkQueue();
    q.add(k('a'));
    q.add(k('b'));
    q.add(k('a'));
    assert.equal(q.length, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(q.length, 0);
  });

  it('never hands a key in processing to a second worker, and re-queues it when done', async () => {
    const q = new WorkQueue();
    q.add(k('a'));
    const key = await q.get();
    q.add(k('a'));
    q.add(k('a'));
    assert.equal(q.length, 0, 'the key in processing is not queued again');
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await new Promise((r) => setImmediate(r));
    assert.equal(second, undefined, 'a waiting worker does not get the key in processing');
    q.done(key!);
    await new Promise((r) => setImmediate(r));
    assert.equal(second, 'a', 'once done, the key dirtied during processing is handed out once');
    q.done(k('a'));
    assert.equal(q.length, 0);
  });

  it('backs off a failing key exponentially and forget() resets it', async () => {
    const q = new WorkQueue({ baseDelayMs: 20, maxDelayMs: 1000 });
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      q.addRateLimited(k('k'));
      const key = await q.get();
      delays.push(Date.now() - started);
      q.done(key!);
    }
    assert.ok(delays[0]! >= 15 && delays[1]! >= 35 && delays[2]! >= 75, `delays ${delays}`);
    assert.equal(q.retries, 3);
    q.forget(k('k'));
    // Ordered against a key due after 60 ms: the base delay (20 ms) comes before it, a fourth step (160 ms) would not.
    q.addAfter(k('marker'), 60);
    q.addRateLimited(k('k'));
    assert.equal(await q.get(), 'k', 'after forget the delay starts from the base again');
    q.shutDown();
  });

  it('addAfter keeps the earliest pending delay for a key', async () => {
    const q = new WorkQueue();
    q.addAfter(k('k'), 30);
    q.addAfter(k('k'), 5000);
    q.addAfter(k('marker'), 1000);
    assert.equal(await q.get(), 'k', 'due after 30 ms, before the marker');
    q.shutDown();
  });

  it('addAfter with a delay longer than a Node timer keeps does not fire at once', async () => {
    const q = new WorkQueue();
    q.addAfter(k('far'), 99999 * 60_000); // unclamped, Node would fire this after 1 ms
    q.addAfter(k('near'), 40);
    assert.equal(await q.get(), 'near');
    assert.equal(q.length, 0);
    q.shutDown();
  });

  it('shutDown releases waiting workers with undefined', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutDown();
    assert.equal(await waiting, undefined);
  });
});

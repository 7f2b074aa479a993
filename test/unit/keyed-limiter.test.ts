import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedLimiter } from '../../src/delivery/keyed-limiter.js';

/** A promise with its resolve exposed, so a test decides when a task ends. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((res) => (resolve = res));
  return { promise, resolve };
}

const settle = () => new Promise((r) => setImmediate(r));

/** Runs tasks through the limiter and records, per key, how many run at once. */
class Probe {
  readonly running = new Map<string, number>();
  readonly peak = new Map<string, number>();
  readonly started: string[] = [];
  readonly gates = new Map<string, ReturnType<typeof deferred>>();

  constructor(private readonly limiter: KeyedLimiter) {}

  run(key: string, id: string): Promise<string> {
    return this.limiter.run(key, async () => {
      const now = (this.running.get(key) ?? 0) + 1;
      this.running.set(key, now);
      this.peak.set(key, Math.max(this.peak.get(key) ?? 0, now));
      this.started.push(id);
      const gate = deferred();
      this.gates.set(id, gate);
      try {
        await gate.promise;
        return id;
      } finally {
        this.running.set(key, (this.running.get(key) ?? 1) - 1);
      }
    });
  }

  finish(id: string): void {
    const gate = this.gates.get(id);
    assert.ok(gate, `task ${id} has not started`);
    gate.resolve();
  }
}

describe('KeyedLimiter', () => {
  it('never runs more than `limit` tasks at once for one key', async () => {
    const probe = new Probe(new KeyedLimiter(2));
    const results = ['a1', 'a2', 'a3', 'a4', 'a5'].map((id) => probe.run('a', id));
    await settle();
    assert.deepEqual(probe.started, ['a1', 'a2']);
    assert.equal(probe.running.get('a'), 2);

    probe.finish('a1');
    await settle();
    assert.deepEqual(probe.started, ['a1', 'a2', 'a3']);
    assert.equal(probe.running.get('a'), 2);

    probe.finish('a2');
    probe.finish('a3');
    await settle();
    assert.deepEqual(probe.started, ['a1', 'a2', 'a3', 'a4', 'a5']);
    probe.finish('a4');
    probe.finish('a5');
    assert.deepEqual(await Promise.all(results), ['a1', 'a2', 'a3', 'a4', 'a5'], 'each caller gets its own task result');
    assert.equal(probe.peak.get('a'), 2);
    assert.equal(probe.running.get('a'), 0);
  });

  it('does not hold up other keys while one key is saturated', async () => {
    const probe = new Probe(new KeyedLimiter(1));
    const a = [probe.run('a', 'a1'), probe.run('a', 'a2'), probe.run('a', 'a3')];
    const b = probe.run('b', 'b1');
    const c = probe.run('c', 'c1');
    await settle();
    assert.deepEqual(probe.started, ['a1', 'b1', 'c1']);
    probe.finish('b1');
    probe.finish('c1');
    assert.equal(await b, 'b1');
    assert.equal(await c, 'c1');
    assert.deepEqual(probe.started, ['a1', 'b1', 'c1'], 'a2 still waits for a1');
    probe.finish('a1');
    await settle();
    probe.finish('a2');
    await settle();
    probe.finish('a3');
    assert.deepEqual(await Promise.all(a), ['a1', 'a2', 'a3']);
    assert.equal(probe.peak.get('a'), 1);
  });

  it('starts the waiting tasks of one key in the order they were submitted', async () => {
    const probe = new Probe(new KeyedLimiter(1));
    const ids = ['t1', 't2', 't3', 't4', 't5', 't6'];
    const all = ids.map((id) => probe.run('k', id));
    for (const id of ids) {
      await settle();
      assert.equal(probe.started.at(-1), id);
      probe.finish(id);
    }
    await Promise.all(all);
    assert.deepEqual(probe.started, ids);
  });

  it('keeps FIFO order when a new task arrives just as a slot frees up', async () => {
    const probe = new Probe(new KeyedLimiter(1));
    const first = probe.run('k', 'first');
    const queued = probe.run('k', 'queued');
    await settle();
    probe.finish('first');
    await first;
    const late = probe.run('k', 'late');
    await settle();
    assert.deepEqual(probe.started, ['first', 'queued'], 'the task that waited gets the slot, not the newcomer');
    probe.finish('queued');
    await settle();
    probe.finish('late');
    await Promise.all([queued, late]);
    assert.deepEqual(probe.started, ['first', 'queued', 'late']);
    assert.equal(probe.peak.get('k'), 1);
  });

  it('releases the slot of a task that throws, and passes the error to its caller', async () => {
    const limiter = new KeyedLimiter(1);
    const failing = limiter.run('k', async () => {
      throw new Error('boom');
    });
    const next = limiter.run('k', async () => 'next ran');
    await assert.rejects(failing, /boom/);
    assert.equal(await next, 'next ran');

    // A task that throws synchronously (not a rejected promise) must release the slot too.
    const syncThrow = limiter.run('k', () => {
      throw new Error('sync boom');
    });
    await assert.rejects(syncThrow, /sync boom/);
    const after = await Promise.race([
      limiter.run('k', async () => 'after ran'),
      new Promise((r) => setTimeout(() => r('stuck'), 500)),
    ]);
    assert.equal(after, 'after ran');
  });

  it('frees a key completely once its tasks are done, so later bursts get the full limit again', async () => {
    const limiter = new KeyedLimiter(3);
    const probe = new Probe(limiter);
    const first = ['x1', 'x2', 'x3', 'x4'].map((id) => probe.run('k', id));
    await settle();
    for (const id of ['x1', 'x2', 'x3']) probe.finish(id);
    await settle();
    probe.finish('x4');
    await Promise.all(first);
    const second = ['y1', 'y2', 'y3', 'y4'].map((id) => probe.run('k', id));
    await settle();
    assert.deepEqual(probe.started.slice(4), ['y1', 'y2', 'y3']);
    for (const id of ['y1', 'y2', 'y3']) probe.finish(id);
    await settle();
    probe.finish('y4');
    await Promise.all(second);
    assert.equal(probe.peak.get('k'), 3);
  });
});

describe('KeyedLimiter cancellation', () => {
  it('a waiting task whose signal aborts leaves the line without running', async () => {
    const limiter = new KeyedLimiter(1);
    let release!: () => void;
    const first = limiter.run('a', () => new Promise<string>((r) => (release = () => r('first'))));
    const abort = new AbortController();
    const ran: string[] = [];
    const second = limiter.run('a', async () => void ran.push('second'), abort.signal);
    const third = limiter.run('a', async () => void ran.push('third'));
    assert.equal(limiter.queued('a'), 2);
    abort.abort();
    await assert.rejects(second, { name: 'NotStartedError' });
    assert.equal(limiter.queued('a'), 1);
    release();
    assert.equal(await first, 'first');
    await third;
    assert.deepEqual(ran, ['third']);
    assert.equal(limiter.busy('a'), false);
  });
});

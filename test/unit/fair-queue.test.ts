import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FairQueue } from '../../src/core/fair-queue.js';
import { WorkQueue } from '../../src/controller/work-queue.js';
import type { ObjectKey } from '../../src/core/object-key.js';

/** A work-queue key as the controllers make them; these tests use bare names too. */
const k = (name: string) => name as ObjectKey;

describe('FairQueue', () => {
  it('hands keys out in turns between namespaces, oldest first within one', () => {
    const q = new FairQueue();
    for (let i = 0; i < 3; i++) q.add(k(`flood/${i}`));
    q.add(k('quiet/a'));
    q.add(k('flood/0')); // already waiting: held once
    assert.equal(q.size, 4);
    assert.deepEqual([q.shift(), q.shift(), q.shift(), q.shift(), q.shift()], ['flood/0', 'quiet/a', 'flood/1', 'flood/2', undefined]);
    assert.equal(q.size, 0);
  });

  it('a work queue behind a thousand keys of one namespace hands out another namespace key second', async () => {
    const queue = new WorkQueue();
    for (let i = 0; i < 1000; i++) queue.add(k(`flood/${i}`));
    queue.add(k('victim/raise'));
    assert.equal(await queue.get(), 'flood/0');
    assert.equal(await queue.get(), 'victim/raise');
    queue.shutDown();
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeliveryRecord, EventRaiseStatus } from '../../src/api/types.js';
import { findCondition } from '../../src/core/conditions.js';
import { MAX_LISTED_DELIVERIES, asyncStatus, invalidStatus, isTerminal, noSubscribersStatus, syncStatus } from '../../src/core/raise-status.js';

const now = new Date('2026-01-02T03:04:05.678Z');
const base = { generation: 1, previous: undefined, startTime: '2026-01-02T03:04:00Z', now };
const record = (subscriber: string, outcome: 'Delivered' | 'Failed'): DeliveryRecord => ({
  subscriber,
  url: `http://${subscriber}:80/RPC2`,
  method: 'm',
  outcome,
  attempts: 1,
  durationMs: 3,
});

/** [type, status, reason] of every condition, in order. */
const shape = (status: EventRaiseStatus) => status.conditions?.map((c) => [c.type, c.status, c.reason]);
const complete = (status: EventRaiseStatus) => findCondition(status.conditions, 'Complete');

describe('syncStatus', () => {
  it('is Pending while a matched subscriber has no record, and keeps the partial results', () => {
    const status = syncStatus({ ...base, matched: ['a', 'b'], records: [record('a', 'Delivered')] });
    assert.equal(status.phase, 'Pending');
    assert.equal(isTerminal(status), false);
    assert.deepEqual([status.matched, status.delivered, status.failed], [2, 1, 0]);
    assert.equal(status.completionTime, undefined);
    assert.equal(status.deliveries?.length, 1);
    assert.deepEqual(shape(status), [
      ['Ready', 'False', 'Delivering'],
      ['Complete', 'False', 'Delivering'],
      ['Reconciling', 'True', 'Delivering'],
    ]);
    assert.ok(status.conditions!.every((c) => c.message === 'waiting for 1 of 2 subscribers' && c.observedGeneration === 1));
  });

  const terminal: Array<[string, DeliveryRecord[], string, number, number, string[]]> = [
    ['Delivered', [record('b', 'Delivered'), record('a', 'Delivered')], 'Delivered', 2, 0, ['a', 'b']],
    ['PartiallyDelivered', [record('a', 'Delivered'), record('b', 'Failed')], 'PartiallyDelivered', 1, 1, ['b', 'a']],
    ['Failed', [record('b', 'Failed'), record('a', 'Failed')], 'Failed', 0, 2, ['a', 'b']],
  ];
  for (const [name, records, phase, delivered, failed, order] of terminal) {
    it(`ends ${name} when every matched subscriber has a record`, () => {
      const status = syncStatus({ ...base, matched: ['a', 'b'], records });
      assert.equal(status.phase, phase);
      assert.equal(isTerminal(status), true);
      assert.deepEqual([status.matched, status.delivered, status.failed], [2, delivered, failed]);
      assert.equal(status.completionTime, '2026-01-02T03:04:05Z');
      assert.deepEqual(status.deliveries?.map((d) => d.subscriber), order, 'failures first, then by name');
      const succeeded = phase === 'Delivered';
      assert.deepEqual(
        shape(status),
        succeeded
          ? [['Ready', 'True', phase], ['Complete', 'True', phase]]
          : [['Ready', 'False', phase], ['Complete', 'True', phase], ['Stalled', 'True', phase]],
        'Complete whatever the outcome; Ready only when delivered; Stalled when not',
      );
      if (!succeeded) assert.match(findCondition(status.conditions, 'Stalled')!.message, /eventxmlrpc\.io\/redeliver/, 'the Stalled message says what to do');
    });
  }

  it('a finished raise is no longer Reconciling; a redelivery that succeeds is no longer Stalled', () => {
    const running = syncStatus({ ...base, matched: ['a', 'b'], records: [record('a', 'Failed')] });
    const failed = syncStatus({ ...base, previous: running, matched: ['a', 'b'], records: [record('a', 'Failed'), record('b', 'Failed')] });
    assert.equal(findCondition(failed.conditions, 'Reconciling'), undefined);
    const redelivered = syncStatus({ ...base, previous: failed, matched: ['a', 'b'], records: [record('a', 'Delivered'), record('b', 'Delivered')] });
    assert.deepEqual(shape(redelivered), [['Ready', 'True', 'Delivered'], ['Complete', 'True', 'Delivered']]);
  });

  it('lists at most MAX_LISTED_DELIVERIES entries, failures first, with exact counts', () => {
    const names = Array.from({ length: 1000 }, (_, i) => `s${String(i).padStart(4, '0')}`);
    const records = names.map((n, i) => record(n, i % 100 === 7 ? 'Failed' : 'Delivered'));
    const status = syncStatus({ ...base, matched: names, records });
    assert.equal(status.phase, 'PartiallyDelivered');
    assert.deepEqual([status.matched, status.delivered, status.failed], [1000, 990, 10]);
    assert.equal(status.deliveries?.length, MAX_LISTED_DELIVERIES);
    assert.ok(status.deliveries!.slice(0, 10).every((d) => d.outcome === 'Failed'));
    assert.ok(status.deliveries!.slice(10).every((d) => d.outcome === 'Delivered'));
    assert.match(complete(status)?.message ?? '', /deliveries lists 100 of 1000, failures first/);
  });

  it('counts results the capped list no longer holds (a redelivery of a large raise)', () => {
    const status = syncStatus({ ...base, matched: ['a', 'b'], records: [record('a', 'Delivered'), record('b', 'Failed')], unlisted: { delivered: 148, failed: 2 } });
    assert.deepEqual([status.matched, status.delivered, status.failed], [152, 149, 3]);
    assert.equal(status.phase, 'PartiallyDelivered');
    assert.match(complete(status)?.message ?? '', /deliveries lists 2 of 152/);
  });

  it('keeps lastTransitionTime while the condition status stays the same', () => {
    const first = syncStatus({ ...base, matched: ['a', 'b'], records: [] });
    const later = syncStatus({
      ...base,
      previous: first,
      now: new Date('2026-01-02T03:09:00Z'),
      matched: ['a', 'b'],
      records: [record('a', 'Delivered')],
    });
    assert.equal(complete(later)?.lastTransitionTime, complete(first)?.lastTransitionTime);
    const done = syncStatus({ ...base, previous: later, now: new Date('2026-01-02T03:10:00Z'), matched: ['a'], records: [record('a', 'Delivered')] });
    assert.equal(complete(done)?.lastTransitionTime, '2026-01-02T03:10:00Z');
    assert.equal(findCondition(done.conditions, 'Ready')?.lastTransitionTime, '2026-01-02T03:10:00Z');
  });
});

describe('other terminal statuses', () => {
  it('async: Dispatched with the written and unwritten counts, and no per-subscriber list', () => {
    const status = asyncStatus({ ...base, matched: 3, written: 2, notWritten: 1 });
    assert.equal(status.phase, 'Dispatched');
    assert.deepEqual([status.matched, status.delivered, status.failed], [3, 2, 1]);
    assert.equal(status.deliveries, undefined);
    assert.match(complete(status)?.message ?? '', /written to 2 of 3 subscribers; 1 could not be reached/);
  });

  it('async: Ready once every request was written; Stalled when some could not be', () => {
    assert.deepEqual(shape(asyncStatus({ ...base, matched: 2, written: 2, notWritten: 0 })), [
      ['Ready', 'True', 'Dispatched'],
      ['Complete', 'True', 'Dispatched'],
    ]);
    assert.deepEqual(shape(asyncStatus({ ...base, matched: 2, written: 1, notWritten: 1 })), [
      ['Ready', 'False', 'Dispatched'],
      ['Complete', 'True', 'Dispatched'],
      ['Stalled', 'True', 'Dispatched'],
    ]);
  });

  it('NoSubscribers names the event', () => {
    const status = noSubscribersStatus({ ...base, event: 'E_PIKE_BLOCKED' });
    assert.equal(status.phase, 'NoSubscribers');
    assert.deepEqual([status.matched, status.delivered, status.failed], [0, 0, 0]);
    assert.match(complete(status)?.message ?? '', /E_PIKE_BLOCKED/);
    assert.deepEqual(shape(status), [['Ready', 'False', 'NoSubscribers'], ['Complete', 'True', 'NoSubscribers'], ['Stalled', 'True', 'NoSubscribers']]);
    assert.match(findCondition(status.conditions, 'Stalled')!.message, /create one/);
  });

  it('an invalid event fails with reason InvalidEvent and the problems', () => {
    const status = invalidStatus({ ...base, problems: ['params[0]: bad'] });
    assert.equal(status.phase, 'Failed');
    assert.deepEqual(shape(status), [['Ready', 'False', 'InvalidEvent'], ['Complete', 'True', 'InvalidEvent'], ['Stalled', 'True', 'InvalidEvent']]);
    assert.match(complete(status)?.message ?? '', /params\[0\]: bad/);
    assert.match(findCondition(status.conditions, 'Stalled')!.message, /create a new EventRaise/);
  });
});

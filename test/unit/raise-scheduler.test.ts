import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { objectKey } from '../../src/core/object-key.js';
import { RaiseScheduler } from '../../src/core/raise-scheduler.js';

const key = (ns: string, name: string) => objectKey(ns, name);
const limits = { maxRunning: 4, maxRunningPerNamespace: 2, maxParkedPerNamespace: 3 };

describe('RaiseScheduler', () => {
  it('starts raises while there is room, and queues the rest per namespace', () => {
    const s = new RaiseScheduler(limits);
    assert.equal(s.tryStart(key('a', '1')), true);
    assert.equal(s.tryStart(key('a', '2')), true);
    assert.equal(s.tryStart(key('a', '3')), false, 'a namespace holds at most maxRunningPerNamespace');
    assert.equal(s.tryStart(key('b', '1')), true, 'another namespace is not held up by it');
    assert.equal(s.runningCount, 3);
  });

  it('asking again for a started raise is idempotent', () => {
    const s = new RaiseScheduler(limits);
    assert.equal(s.tryStart(key('a', '1')), true);
    assert.equal(s.tryStart(key('a', '1')), true);
    assert.equal(s.runningCount, 1);
  });

  it('hands freed slots to the namespaces in turn, oldest raise first', () => {
    const s = new RaiseScheduler({ maxRunning: 2, maxRunningPerNamespace: 2, maxParkedPerNamespace: 10 });
    s.tryStart(key('a', '1'));
    s.tryStart(key('a', '2'));
    for (const name of ['3', '4', '5']) assert.equal(s.tryStart(key('a', name)), false);
    for (const name of ['1', '2']) assert.equal(s.tryStart(key('b', name)), false);
    s.remove(key('a', '1'));
    s.remove(key('a', '2'));
    const first = s.grants();
    assert.deepEqual(first, [key('a', '3'), key('b', '1')]);
    assert.deepEqual(s.grants(), [], 'no slot is free any more');
    for (const k of first) assert.equal(s.tryStart(k), true, 'a granted raise starts');
    s.remove(key('a', '3'));
    s.remove(key('b', '1'));
    assert.deepEqual(s.grants(), [key('a', '4'), key('b', '2')]);
  });

  it('a raise arriving behind older raises of its namespace waits its turn', () => {
    const s = new RaiseScheduler({ maxRunning: 1, maxRunningPerNamespace: 1, maxParkedPerNamespace: 10 });
    s.tryStart(key('a', '1'));
    assert.equal(s.tryStart(key('a', '2')), false);
    s.remove(key('a', '1'));
    assert.equal(s.tryStart(key('a', '3')), false, 'a/2 came first');
    assert.deepEqual(s.grants(), [key('a', '2')]);
  });

  it('a parked raise frees its running slot but counts against its namespace parked bound', () => {
    const s = new RaiseScheduler({ maxRunning: 1, maxRunningPerNamespace: 1, maxParkedPerNamespace: 1 });
    s.tryStart(key('a', '1'));
    assert.equal(s.tryStart(key('b', '1')), false);
    assert.equal(s.tryStart(key('a', '2')), false);
    s.setParked(key('a', '1'), true);
    assert.equal(s.runningCount, 0);
    assert.deepEqual(s.grants(), [key('b', '1')], 'a has reached its parked bound; b gets the slot');
    s.setParked(key('a', '1'), false);
    assert.equal(s.runningCount, 2, 'a raise that runs again is counted again, above the bound for a while');
    s.remove(key('a', '1'));
    s.remove(key('b', '1'));
    assert.deepEqual(s.grants(), [key('a', '2')]);
  });

  it('a removed waiting or granted raise gives its place up', () => {
    const s = new RaiseScheduler({ maxRunning: 1, maxRunningPerNamespace: 1, maxParkedPerNamespace: 1 });
    s.tryStart(key('a', '1'));
    s.tryStart(key('a', '2'));
    s.tryStart(key('a', '3'));
    s.remove(key('a', '2'));
    s.remove(key('a', '1'));
    const [granted] = s.grants();
    assert.equal(granted, key('a', '3'));
    s.remove(granted!);
    assert.equal(s.runningCount, 0);
    assert.equal(s.tryStart(key('c', '1')), true);
  });

  it('starts nothing while draining; started raises go on', () => {
    const s = new RaiseScheduler(limits);
    s.tryStart(key('a', '1'));
    s.tryStart(key('a', '2'));
    s.tryStart(key('a', '3'));
    s.drain();
    assert.equal(s.tryStart(key('b', '1')), false);
    s.remove(key('a', '1'));
    assert.deepEqual(s.grants(), []);
    assert.equal(s.startedCount, 1);
  });

  it('serves flooding namespaces equally', () => {
    const s = new RaiseScheduler({ maxRunning: 3, maxRunningPerNamespace: 3, maxParkedPerNamespace: 10 });
    const started = new Map<string, number>();
    const running: ReturnType<typeof key>[] = [];
    const begin = (k: ReturnType<typeof key>) => {
      running.push(k);
      started.set(k.split('/')[0]!, (started.get(k.split('/')[0]!) ?? 0) + 1);
    };
    for (let i = 0; i < 100; i++) for (const ns of ['a', 'b', 'c']) if (s.tryStart(key(ns, String(i)))) begin(key(ns, String(i)));
    for (let round = 0; round < 90; round++) {
      s.remove(running.shift()!);
      for (const k of s.grants()) {
        assert.equal(s.tryStart(k), true);
        begin(k);
      }
    }
    const counts = [...started.values()];
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `starts per namespace: ${JSON.stringify([...started])}`);
  });
});

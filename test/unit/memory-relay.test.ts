import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import winston from 'winston';
import type { EventRelay } from '../../src/api/relay-types.js';
import type { Subscriber } from '../../src/api/types.js';
import type { DeliveryTarget } from '../../src/core/socket.js';
import { SubscriberIndex } from '../../src/core/subscriber-index.js';
import { Credentials } from '../../src/delivery/credentials.js';
import { Dispatcher, type Sender } from '../../src/delivery/dispatcher.js';
import type { DeliveryResult } from '../../src/delivery/http-sender.js';
import { MemoryRelay } from '../../src/relay/memory-relay.js';

/** Holds every request until the test answers it; notes the bodies in the order they went out. */
class HeldSender implements Sender {
  readonly sent: string[] = [];
  private readonly answers: Array<(r: DeliveryResult) => void> = [];
  send(_target: DeliveryTarget, body: string) {
    this.sent.push(body);
    return { written: Promise.resolve(true), result: new Promise<DeliveryResult>((resolve) => this.answers.push(resolve)) };
  }
  answerAll(outcome: 'Delivered' | 'Failed' = 'Delivered'): void {
    for (const answer of this.answers.splice(0)) answer({ outcome, written: true, durationMs: 1, ...(outcome === 'Failed' ? { httpStatus: 404 } : {}) });
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const subscriber = (namespace: string, name: string, event: string): Subscriber => ({
  metadata: { namespace, name, uid: `${namespace}-${name}`, generation: 1 },
  spec: { event, socket: `xmlrpc:127.0.0.1:9:${name}` },
});
const relay = (namespace: string, name: string, queueSize?: number): EventRelay => ({ metadata: { namespace, name, uid: `${namespace}-${name}` }, spec: queueSize ? { queueSize } : {} });
const call = (event: string, seq: number) => ({ event, params: [{ name: 'seq', int: seq }] });

function setup(options: { maxRunningPerNamespace?: number; maxBytesPerRelay?: number } = {}) {
  const sender = new HeldSender();
  const index = new SubscriberIndex();
  const finished: Array<[string, number, number]> = [];
  const memory = new MemoryRelay({
    dispatcher: new Dispatcher(sender, 16),
    // These Subscribers have no spec.tls nor spec.auth: no Secret is read.
    credentials: new Credentials(() => Promise.reject(new Error('no Secret is read'))),
    index,
    defaults: { useStructParam: false, delivery: { responseTimeoutMs: 1000, policy: { limit: 0, backoff: 'linear', initialDelayMs: 1, maxDelayMs: 1, retryOnFaultCodes: [] } } },
    observer: { delivered() {} },
    log: winston.createLogger({ silent: true }),
    now: () => new Date(),
    limits: { maxRunning: 128, maxRunningPerNamespace: options.maxRunningPerNamespace ?? 32 },
    maxBytesPerRelay: options.maxBytesPerRelay ?? 1_000_000,
    finished: (r, delivered, failed) => finished.push([r.metadata.name ?? '', delivered, failed]),
  });
  return { sender, index, memory, finished };
}

describe('MemoryRelay', () => {
  it('holds at most spec.queueSize events per relay until their deliveries are over; other relays keep their room', async () => {
    const { sender, index, memory, finished } = setup();
    index.upsert(subscriber('voip', 'a', 'E_X'));
    const small = relay('voip', 'small', 2);
    assert.equal(memory.offer(small, call('E_X', 1), 100, true), true);
    assert.equal(memory.offer(small, call('E_X', 2), 100, true), true);
    assert.equal(memory.offer(small, call('E_X', 3), 100, true), false, 'full');
    assert.equal(memory.offer(relay('voip', 'other', 2), call('E_X', 4), 100, true), true, 'another relay is not full');
    assert.deepEqual([...memory.depths()].map((d) => [d.relay, d.depth]), [['small', 2], ['other', 1]]);
    await tick();
    sender.answerAll();
    await memory.drained();
    assert.equal(memory.offer(small, call('E_X', 5), 100, true), true, 'room again once delivered');
    assert.deepEqual(finished.sort(), [['other', 1, 0], ['small', 1, 0], ['small', 1, 0]]);
    await tick();
    sender.answerAll('Failed');
    await memory.drained();
    assert.deepEqual(finished.at(-1), ['small', 0, 1]);
  });

  it('bounds the bytes one relay holds, besides the count', () => {
    const { memory, index } = setup({ maxBytesPerRelay: 1000 });
    index.upsert(subscriber('voip', 'a', 'E_X'));
    const r = relay('voip', 'r');
    assert.equal(memory.offer(r, call('E_X', 1), 600, false), true);
    assert.equal(memory.offer(r, call('E_X', 2), 600, false), false);
    assert.equal(memory.offer(r, call('E_X', 3), 400, false), true);
  });

  it('an event no Subscriber takes is over at once', async () => {
    const { memory, sender } = setup();
    assert.equal(memory.offer(relay('voip', 'r', 1), call('E_NOBODY', 1), 10, false), true);
    assert.equal(memory.size, 0);
    assert.equal(memory.offer(relay('voip', 'r', 1), call('E_NOBODY', 2), 10, false), true);
    await tick();
    assert.deepEqual(sender.sent, []);
  });

  it('starts each namespace\'s events in arrival order, and namespaces in turns', async () => {
    const { memory, index, sender } = setup({ maxRunningPerNamespace: 1 });
    index.upsert(subscriber('a', 's', 'E_X'));
    index.upsert(subscriber('b', 's', 'E_X'));
    for (let i = 0; i < 3; i++) memory.offer(relay('a', 'r'), call('E_X', i), 10, true);
    memory.offer(relay('b', 'r'), call('E_X', 100), 10, true);
    const seqs = () => sender.sent.map((body) => Number(/<int>(\d+)<\/int>/.exec(body)?.[1]));
    await tick();
    assert.deepEqual(seqs(), [0, 100], 'one of each namespace runs');
    for (const expected of [[0, 100, 1], [0, 100, 1, 2]]) {
      sender.answerAll();
      await tick();
      await tick();
      assert.deepEqual(seqs(), expected);
    }
    sender.answerAll();
    await memory.drained();
  });
});

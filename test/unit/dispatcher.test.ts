import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeliveryTarget } from '../../src/core/socket.js';
import { Dispatcher, NOT_SENT, type PreparedAttempt, type Sender } from '../../src/delivery/dispatcher.js';
import type { DeliveryResult } from '../../src/delivery/http-sender.js';

const target: DeliveryTarget = { host: 'h', port: 1, path: '/RPC2', method: 'm', url: 'http://h:1/RPC2' };
const prepared = (body: string, limit = 0): PreparedAttempt => ({
  target,
  body,
  delivery: { responseTimeoutMs: 1000, policy: { limit, backoff: 'linear', initialDelayMs: 3_600_000, maxDelayMs: 3_600_000, retryOnFaultCodes: [] } },
});

/** Sends nothing: each attempt waits until the test answers it. */
class HeldSender implements Sender {
  readonly sent: string[] = [];
  private readonly answers: Array<(r: DeliveryResult) => void> = [];
  send(_target: DeliveryTarget, body: string) {
    this.sent.push(body);
    let answer!: (r: DeliveryResult) => void;
    const result = new Promise<DeliveryResult>((resolve) => (answer = resolve));
    this.answers.push(answer);
    return { written: Promise.resolve(true), result };
  }
  answer(result: Partial<DeliveryResult> = {}): void {
    this.answers.shift()?.({ outcome: 'Delivered', written: true, durationMs: 1, ...result });
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe('Dispatcher', () => {
  it('an aborted delivery queued behind its subscriber is never sent', async () => {
    const sender = new HeldSender();
    const dispatcher = new Dispatcher(sender, 1);
    const first = dispatcher.deliver({ subscriberKey: 'ns/s', prepare: () => prepared('first'), retryAfterWrite: true });
    const abort = new AbortController();
    const waiting: boolean[] = [];
    const second = dispatcher.deliver({
      subscriberKey: 'ns/s',
      prepare: () => prepared('second'),
      retryAfterWrite: true,
      signal: abort.signal,
      onWaiting: (w) => waiting.push(w),
    });
    await tick();
    assert.deepEqual(waiting, [true], 'it waits for the subscriber slot');
    abort.abort();
    const dropped = await second.result;
    assert.equal(dropped.notSent, NOT_SENT.cancelled);
    assert.equal(dropped.attempts, 0);
    sender.answer();
    assert.equal((await first.result).outcome, 'Delivered');
    assert.deepEqual(sender.sent, ['first']);
  });

  it('reads the attempt afresh when its turn comes: a Subscriber gone meanwhile gets nothing', async () => {
    const sender = new HeldSender();
    const dispatcher = new Dispatcher(sender, 1);
    let gone = false;
    const first = dispatcher.deliver({ subscriberKey: 'ns/s', prepare: () => prepared('first'), retryAfterWrite: true });
    const second = dispatcher.deliver({ subscriberKey: 'ns/s', prepare: () => (gone ? { notSent: 'not sent: gone' } : prepared('second')), retryAfterWrite: true });
    await tick();
    gone = true;
    sender.answer();
    await first.result;
    const result = await second.result;
    assert.equal(result.notSent, 'not sent: gone');
    assert.equal(result.outcome, 'Failed');
    assert.deepEqual(sender.sent, ['first']);
  });

  it('aborting ends a retry pause at once and sends no further attempt', async () => {
    const sender = new HeldSender();
    const dispatcher = new Dispatcher(sender, 4);
    const abort = new AbortController();
    const waiting: boolean[] = [];
    const delivery = dispatcher.deliver({ subscriberKey: 'ns/s', prepare: () => prepared('x', 5), retryAfterWrite: true, signal: abort.signal, onWaiting: (w) => waiting.push(w) });
    await tick();
    sender.answer({ outcome: 'Failed', httpStatus: 503 });
    await tick();
    assert.deepEqual(waiting, [true], 'pausing for an hour before the retry');
    abort.abort();
    const result = await delivery.result;
    assert.equal(result.notSent, NOT_SENT.cancelled);
    assert.equal(sender.sent.length, 1);
  });

  it('close ends every retry pause, not only the last', async () => {
    const sender = new HeldSender();
    const dispatcher = new Dispatcher(sender, 4);
    const deliveries = ['a', 'b', 'c'].map((body) => dispatcher.deliver({ subscriberKey: `ns/${body}`, prepare: () => prepared(body, 5), retryAfterWrite: true }));
    await tick();
    for (let i = 0; i < 3; i++) sender.answer({ outcome: 'Failed', httpStatus: 503 });
    await tick();
    dispatcher.close();
    const results = await Promise.all(deliveries.map((d) => d.result));
    assert.deepEqual(results.map((r) => [r.outcome, r.httpStatus, r.attempts]), [['Failed', 503, 1], ['Failed', 503, 1], ['Failed', 503, 1]]);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeliveryTarget } from '../../src/core/socket.js';
import { Dispatcher, NOT_SENT, type PreparedAttempt, type Sender } from '../../src/delivery/dispatcher.js';
import type { DeliveryResult } from '../../src/delivery/http-sender.js';

const target: DeliveryTarget = { host: 'h', port: 1, path: '/RPC2', method: 'm', url: 'http://h:1/RPC2' };
const prepared = (body: string, limit = 3, initialDelayMs = 5): PreparedAttempt => ({
  target,
  body,
  delivery: { responseTimeoutMs: 1000, policy: { limit, backoff: 'linear', initialDelayMs, maxDelayMs: initialDelayMs, retryOnFaultCodes: [] } },
});

/** Records what is on the wire at once; each attempt waits until the test answers it. */
class HeldSender implements Sender {
  readonly sent: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private readonly answers: Array<{ body: string; answer: (r: DeliveryResult) => void }> = [];
  send(_target: DeliveryTarget, body: string) {
    this.sent.push(body);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let answer!: (r: DeliveryResult) => void;
    const result = new Promise<DeliveryResult>((resolve) => (answer = resolve));
    this.answers.push({ body, answer });
    return { written: Promise.resolve(true), result };
  }
  /** Answers the oldest request on the wire (of `body`, when given). */
  answer(result: Partial<DeliveryResult> = {}, body?: string): void {
    const index = body === undefined ? 0 : this.answers.findIndex((a) => a.body === body);
    const [held] = this.answers.splice(index, 1);
    assert.ok(held, `a request ${body ?? ''} is on the wire`);
    this.inFlight--;
    held.answer({ outcome: 'Delivered', written: true, durationMs: 1, ...result });
  }
  get waiting(): number {
    return this.answers.length;
  }
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 2000 && !check(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(check(), 'condition reached');
};
const FAILED = { outcome: 'Failed' as const, httpStatus: 503 };

describe('Dispatcher, ordered', () => {
  it('one request at a time, in the order of deliver(); a failing head is retried before the next goes', async () => {
    const sender = new HeldSender();
    const dispatcher = new Dispatcher(sender, 16);
    const results = ['e1', 'e2', 'e3'].map((body) => dispatcher.deliver({ subscriberKey: 'ns/s', prepare: () => prepared(body), retryAfterWrite: true, ordered: true }).result);
    await until(() => sender.waiting === 1);
    sender.answer(FAILED); // e1, first attempt
    await until(() => sender.waiting === 1);
    sender.answer(FAILED); // e1 again
    await until(() => sender.waiting === 1);
    sender.answer(); // e1 delivered
    for (let i = 0; i < 2; i++) {
      await until(() => sender.waiting === 1);
      sender.answer();
    }
    const outcomes = await Promise.all(results);
    assert.deepEqual(sender.sent, ['e1', 'e1', 'e1', 'e2', 'e3']);
    assert.equal(sender.maxInFlight, 1);
    assert.deepEqual(outcomes.map((r) => [r.outcome, r.attempts]), [['Delivered', 3], ['Delivered', 1], ['Delivered', 1]]);
  });

  it('a head that fails for good lets the next one go, still in order', async () => {
    const sender = new HeldSender();
    const dispatcher = new Dispatcher(sender, 16);
    const first = dispatcher.deliver({ subscriberKey: 'ns/s', prepare: () => prepared('e1', 1), retryAfterWrite: true, ordered: true });
    const second = dispatcher.deliver({ subscriberKey: 'ns/s', prepare: () => prepared('e2', 1), retryAfterWrite: true, ordered: true });
    await until(() => sender.waiting === 1);
    sender.answer(FAILED);
    await until(() => sender.waiting === 1);
    sender.answer(FAILED);
    await until(() => sender.waiting === 1);
    sender.answer();
    assert.equal((await first.result).outcome, 'Failed');
    assert.equal((await second.result).outcome, 'Delivered');
    assert.deepEqual(sender.sent, ['e1', 'e1', 'e2']);
  });

  it('a blocked ordered subscriber holds up no other subscriber', async () => {
    const sender = new HeldSender();
    const dispatcher = new Dispatcher(sender, 16);
    const blocked = ['b1', 'b2'].map((body) => dispatcher.deliver({ subscriberKey: 'ns/blocked', prepare: () => prepared(body), retryAfterWrite: true, ordered: true }));
    const free = ['f1', 'f2', 'f3'].map((body) => dispatcher.deliver({ subscriberKey: 'ns/free', prepare: () => prepared(body), retryAfterWrite: true, ordered: true }));
    for (const body of ['f1', 'f2', 'f3']) {
      await until(() => sender.sent.includes(body));
      sender.answer({}, body);
    }
    assert.deepEqual((await Promise.all(free.map((d) => d.result))).map((r) => r.outcome), ['Delivered', 'Delivered', 'Delivered']);
    assert.deepEqual(sender.sent.filter((b) => b.startsWith('b')), ['b1'], 'b2 waits behind its own head');
    sender.answer({}, 'b1');
    await until(() => sender.sent.includes('b2'));
    sender.answer({}, 'b2');
    await Promise.all(blocked.map((d) => d.result));
  });

  it('the head waits out its retry pause in the slot, as parked; aborting it lets the next one go', async () => {
    const sender = new HeldSender();
    const dispatcher = new Dispatcher(sender, 16);
    const abort = new AbortController();
    const waiting: boolean[] = [];
    const head = dispatcher.deliver({
      subscriberKey: 'ns/s',
      prepare: () => prepared('e1', 5, 3_600_000),
      retryAfterWrite: true,
      ordered: true,
      signal: abort.signal,
      onWaiting: (w) => waiting.push(w),
    });
    const next = dispatcher.deliver({ subscriberKey: 'ns/s', prepare: () => prepared('e2'), retryAfterWrite: true, ordered: true });
    await until(() => sender.waiting === 1);
    sender.answer(FAILED);
    await until(() => waiting.length === 1);
    assert.deepEqual(waiting, [true], 'pausing before its retry');
    assert.deepEqual(sender.sent, ['e1'], 'nothing overtakes the head in its pause');
    abort.abort();
    assert.equal((await head.result).notSent, NOT_SENT.cancelled);
    await until(() => sender.waiting === 1);
    sender.answer();
    assert.equal((await next.result).outcome, 'Delivered');
    assert.deepEqual(sender.sent, ['e1', 'e2']);
  });

  it('unordered deliveries to the same subscriber still go up to the cap at once', async () => {
    const sender = new HeldSender();
    const dispatcher = new Dispatcher(sender, 3);
    const all = ['a', 'b', 'c', 'd'].map((body) => dispatcher.deliver({ subscriberKey: 'ns/s', prepare: () => prepared(body), retryAfterWrite: true }).result);
    await until(() => sender.waiting === 3);
    while (sender.waiting > 0 || sender.sent.length < 4) {
      await until(() => sender.waiting > 0);
      sender.answer();
    }
    await Promise.all(all);
    assert.equal(sender.maxInFlight, 3);
  });
});

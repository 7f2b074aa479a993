// Subscriber spec.delivery.ordered: one request at a time, in the order the
// events reached the relay (or, as EventRaises, the operator), a failing head
// retried before anything overtakes it, and nobody else held up by it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Operator } from '../../src/operator.js';
import { newNamespace } from '../support/cluster.js';
import { createSubscriber, listRaises, TERMINAL, waitFor, waitForReady } from '../support/objects.js';
import { spawnOperator, startOperator } from '../support/operator.js';
import { createRelay, openSipsBody, openSipsRequest, sendLikeOpenSips, waitForRelay, type RelayAddress } from '../support/relay.js';
import { firstArrivals, startSequencePeer, type SequencePeer } from '../support/sequence-peer.js';
import { refusedPort } from '../support/tcp-peers.js';

const FAST_RETRIES = { retry: { limit: 5, backoff: 'linear' as const, initialDelay: '20ms', maxDelay: '100ms' } };
const seqs = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const event = (relay: RelayAddress, name: string, seq: number) => openSipsRequest(relay, openSipsBody(name, [{ name: 'seq', value: String(seq), int: true }]));

describe('ordered delivery from a relay', () => {
  let namespace: string;
  let operator: Operator;
  const peers: SequencePeer[] = [];

  before(async () => {
    namespace = await newNamespace('ordered');
    // The blocked subscriber's head is still in flight at the end: no need to wait for it.
    operator = await startOperator(namespace, ['--shutdown-grace=500ms']);
  });
  after(async () => {
    await operator?.stop();
    for (const peer of peers) await peer.close();
  });

  it('keeps the arrival order through retries: one request at a time, a failing head retried before the next', async () => {
    // Every third event fails its first attempt, with HTTP 500.
    const ordered = await startSequencePeer((seq, attempt) => (seq % 3 === 0 && attempt === 1 ? 'fail' : 'ok'));
    const unordered = await startSequencePeer((seq, attempt) => (seq % 3 === 0 && attempt === 1 ? 'fail' : 'ok'));
    peers.push(ordered, unordered);
    await createSubscriber(namespace, 'ordered', { event: 'E_DLG_STATE_CHANGED', socket: `xmlrpc:127.0.0.1:${ordered.port}:m`, delivery: { ...FAST_RETRIES, ordered: true } });
    await createSubscriber(namespace, 'unordered', { event: 'E_DLG_STATE_CHANGED', socket: `xmlrpc:127.0.0.1:${unordered.port}:m`, delivery: FAST_RETRIES });
    await Promise.all([waitForReady(namespace, 'ordered'), waitForReady(namespace, 'unordered')]);
    await createRelay(namespace, 'opensips', { syncMode: true });
    const relay = await waitForRelay(namespace, 'opensips');

    const N = 40;
    // As OpenSIPS's sender: one connection after the other, as fast as it can, never reading the answer.
    for (const seq of seqs(N)) await sendLikeOpenSips(relay.port, event(relay, 'E_DLG_STATE_CHANGED', seq));
    await ordered.waitFor((a) => a.length === N + Math.ceil(N / 3));
    await unordered.waitFor((a) => a.length === N + Math.ceil(N / 3));

    const expected = seqs(N).flatMap((seq) => (seq % 3 === 0 ? [seq, seq] : [seq]));
    assert.deepEqual(ordered.order(), expected, 'each event in arrival order, its retry right after it');
    assert.equal(ordered.maxOpen(), 1, 'never two requests at once');
    assert.deepEqual([...unordered.order()].sort((a, b) => a - b), [...expected].sort((a, b) => a - b), 'the unordered one got everything too');
  });

  it('a blocked ordered subscriber holds up no other subscriber of the same events', async () => {
    const blocked = await startSequencePeer(() => 'never');
    const other = await startSequencePeer();
    peers.push(blocked, other);
    const delivery = { timeoutSeconds: 120, retry: { limit: 0 }, ordered: true };
    await createSubscriber(namespace, 'blocked', { event: 'E_UL_CONTACT_INSERT', socket: `xmlrpc:127.0.0.1:${blocked.port}:m`, delivery });
    await createSubscriber(namespace, 'other', { event: 'E_UL_CONTACT_INSERT', socket: `xmlrpc:127.0.0.1:${other.port}:m`, delivery });
    await Promise.all([waitForReady(namespace, 'blocked'), waitForReady(namespace, 'other')]);
    await createRelay(namespace, 'contacts', { syncMode: true });
    const relay = await waitForRelay(namespace, 'contacts');

    const N = 30;
    for (const seq of seqs(N)) await sendLikeOpenSips(relay.port, event(relay, 'E_UL_CONTACT_INSERT', seq));
    await other.waitFor((a) => a.length === N);
    assert.deepEqual(other.order(), seqs(N));
    assert.deepEqual(blocked.order(), [0], 'the blocked one holds its head, and only its own events wait behind it');
  });
});

describe('ordered delivery across a restart', () => {
  it('Durable relay, SIGKILL mid-stream: the order holds, and the only step back replays what the kill left unrecorded', async (t) => {
    const namespace = await newNamespace('ordered-restart');
    // Slow enough that a backlog of raises waits when the operator is killed; every fourth event fails once.
    const peer = await startSequencePeer((seq, attempt) => (seq % 4 === 1 && attempt === 1 ? 'fail' : 'ok'), 60);
    // The relay's port stays what OpenSIPS was given across the restart, as a Service's does.
    const args = ['--namespace', namespace, `--relay-port=${await refusedPort()}`];
    let operator = await spawnOperator(args);
    try {
      await operator.started;
      await createSubscriber(namespace, 'ordered', { event: 'E_DLG_STATE_CHANGED', socket: `xmlrpc:127.0.0.1:${peer.port}:m`, delivery: { ...FAST_RETRIES, ordered: true } });
      await waitForReady(namespace, 'ordered');
      await createRelay(namespace, 'opensips', { mode: 'Durable', syncMode: true, ttlSecondsAfterFinished: 3600 });
      const relay = await waitForRelay(namespace, 'opensips');

      const N = 40;
      const HALF = 24;
      for (const seq of seqs(HALF)) await sendLikeOpenSips(relay.port, event(relay, 'E_DLG_STATE_CHANGED', seq));
      // OpenSIPS does not wait for the answer; the kill comes once every event is stored, deliveries still running.
      await waitFor(() => listRaises(namespace), (raises) => (raises.length === HALF ? raises : undefined));
      await peer.waitFor((a) => firstArrivals(a).length >= 6);
      await operator.kill('SIGKILL');
      const seenAtKill = firstArrivals(peer.arrivals).length;
      assert.ok(seenAtKill < HALF, `the kill left a backlog (${seenAtKill} of ${HALF} seen)`);

      operator = await spawnOperator(args);
      await operator.started;
      for (const seq of seqs(N - HALF, HALF)) await sendLikeOpenSips(relay.port, event(relay, 'E_DLG_STATE_CHANGED', seq));
      await waitFor(
        () => listRaises(namespace),
        (raises) => (raises.length === N && raises.every((r) => TERMINAL.has(r.status?.phase ?? '')) ? raises : undefined),
        90_000,
      );

      const order = peer.order();
      assert.deepEqual(firstArrivals(peer.arrivals), seqs(N), 'every event, first seen in arrival order');
      const stepsBack = order.filter((seq, i) => i > 0 && seq < order[i - 1]!).length;
      assert.ok(stepsBack <= 1, `at most one step back (the restart): ${JSON.stringify(order)}`);
      assert.equal(peer.maxOpen(), 1, `never two requests at once: ${JSON.stringify(peer.arrivals.filter((x) => x.open > 1))} of ${order.join(' ')}`);
      t.diagnostic(`${seenAtKill} events seen at the kill; arrivals: ${order.join(' ')}`);
    } finally {
      await operator.kill();
      await peer.close();
    }
  });
});

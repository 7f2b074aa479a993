// A Durable EventRelay: every accepted event is an EventRaise (owned by the
// relay, with its ttl) before the relay answers, so it outlives the process
// that received it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newNamespace } from '../support/cluster.js';
import { createSubscriber, listRaises, TERMINAL, waitFor, waitForRaise, waitForReady } from '../support/objects.js';
import { spawnOperator, startOperator } from '../support/operator.js';
import { createRelay, faultOf, getRelay, openSipsBody, postToRelay, waitForRelay } from '../support/relay.js';
import { firstArrivals, startSequencePeer } from '../support/sequence-peer.js';
import { refusedPort } from '../support/tcp-peers.js';
import { startPythonPeer } from '../support/xmlrpc-peers.js';

describe('Durable EventRelay', () => {
  it('stores each accepted event as an EventRaise owned by the relay, with its ttl, before it answers', async () => {
    const namespace = await newNamespace('durable');
    const python = await startPythonPeer();
    const operator = await startOperator(namespace);
    try {
      await createSubscriber(namespace, 'py', { event: 'E_PIKE_BLOCKED', socket: `xmlrpc:127.0.0.1:${python.port}:block_ip` });
      await waitForReady(namespace, 'py');
      await createRelay(namespace, 'opensips', { mode: 'Durable', events: ['E_PIKE_BLOCKED'], syncMode: true, ttlSecondsAfterFinished: 600 });
      const relay = await waitForRelay(namespace, 'opensips');

      const answer = await postToRelay(relay.port, relay.path, openSipsBody('E_PIKE_BLOCKED', [{ name: 'ip', value: '192.168.2.11' }]));
      assert.equal(answer.status, 200);
      // Read right after the answer: the raise is there already.
      const [raise, ...others] = await listRaises(namespace);
      assert.equal(others.length, 0);
      assert.match(raise!.metadata.name!, /^opensips-[0-9a-z]{17}$/);
      assert.deepEqual(raise!.metadata.ownerReferences, [{ apiVersion: 'eventxmlrpc.io/v1alpha1', kind: 'EventRelay', name: 'opensips', uid: relay.relay.metadata.uid, controller: true }]);
      assert.deepEqual(raise!.spec, { event: 'E_PIKE_BLOCKED', params: [{ name: 'ip', string: '192.168.2.11' }], syncMode: true, ttlSecondsAfterFinished: 600 });

      const done = await waitForRaise(namespace, raise!.metadata.name!);
      assert.equal(done.status?.phase, 'Delivered');
      assert.deepEqual(await python.log.waitFor(1), [{ method: 'block_ip', params: ['E_PIKE_BLOCKED', 'ip', '192.168.2.11'] }]);

      const refused = await postToRelay(relay.port, relay.path, openSipsBody('E_OTHER', []));
      assert.equal(faultOf(refused.body)?.faultCode, -32602);
      assert.equal((await listRaises(namespace)).length, 1, 'a refused event is not stored');
      const counted = await waitFor(() => getRelay(namespace, 'opensips'), (r) => (r.status?.received === 2 ? r.status : undefined));
      assert.deepEqual([counted.accepted, counted.refused, counted.delivered], [1, 1, undefined], 'a durable relay leaves delivery counts to its raises');
    } finally {
      await operator.stop();
      await python.close();
    }
  });

  it('survives an operator killed mid-stream: one EventRaise per accepted event, each delivered', async () => {
    const namespace = await newNamespace('durable-restart');
    // Each answer takes a second: at the kill, the first --max-per-subscriber (16) have arrived at most, so raises wait.
    const peer = await startSequencePeer(() => 'ok', 1_000);
    const args = ['--namespace', namespace, `--relay-port=${await refusedPort()}`];
    let operator = await spawnOperator(args);
    try {
      await operator.started;
      await createSubscriber(namespace, 'slow', { event: 'E_STREAM', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await waitForReady(namespace, 'slow');
      await createRelay(namespace, 'opensips', { mode: 'Durable', syncMode: true, ttlSecondsAfterFinished: 3600 });
      const relay = await waitForRelay(namespace, 'opensips');

      const accepted: number[] = [];
      const send = async (seq: number) => {
        try {
          const answer = await postToRelay(relay.port, relay.path, openSipsBody('E_STREAM', [{ name: 'seq', value: String(seq), int: true }]));
          if (answer.status === 200) accepted.push(seq);
        } catch {
          // the operator is down: not accepted, and the client knows it
        }
      };
      // Four clients at once, as several OpenSIPS workers would.
      const stream = async (from: number, to: number) => {
        for (let seq = from; seq < to; seq += 4) await Promise.all([0, 1, 2, 3].map((k) => (seq + k < to ? send(seq + k) : undefined)));
      };
      await stream(0, 40);
      await peer.waitFor((a) => a.length >= 5);
      await operator.kill('SIGKILL');
      const deliveredAtKill = firstArrivals(peer.arrivals).length;
      assert.ok(deliveredAtKill < accepted.length, `raises were waiting at the kill (${deliveredAtKill} of ${accepted.length} delivered)`);
      await stream(40, 48); // refused: nobody listens

      operator = await spawnOperator(args);
      await operator.started;
      await stream(48, 80);
      const raises = await waitFor(
        () => listRaises(namespace),
        (list) => (list.length >= accepted.length && list.every((r) => TERMINAL.has(r.status?.phase ?? '')) ? list : undefined),
        90_000,
      );
      const stored = raises.map((r) => r.spec.params?.[0]?.int).sort((a, b) => a! - b!);
      assert.deepEqual(stored, [...accepted].sort((a, b) => a - b), 'one raise per accepted event, no other');
      assert.ok(accepted.length >= 70 && !accepted.some((seq) => seq >= 40 && seq < 48), `accepted: ${accepted.join(' ')}`);
      await peer.waitFor((a) => new Set(a.map((x) => x.seq)).size === accepted.length);
      assert.deepEqual([...new Set(peer.order())].sort((a, b) => a - b), stored, 'each stored event was delivered');
    } finally {
      await operator.kill();
      await peer.close();
    }
  });
});

// The operator's process killed in the middle of a stream of sync raises, then
// started again: every raise ends terminal, and none is delivered again once
// its terminal status was written.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newNamespace } from '../support/cluster.js';
import { createSubscriber, listRaises, raiseNamed, TERMINAL, waitFor, waitForReady } from '../support/objects.js';
import { spawnOperator } from '../support/operator.js';
import { methodNameOf, raiseNameOf } from '../support/raise-names.js';
import { XMLRPC_OK, startRawPeer, type RawPeer } from '../support/tcp-peers.js';

const RAISES = 40;
const KILL_AFTER = 15;

/** Requests per (raise, method called): each subscriber here calls its own method. */
function deliveriesByRaise(peer: RawPeer): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { body } of peer.requests) {
    const key = `${raiseNameOf(body)}/${methodNameOf(body)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

describe('operator restart', () => {
  it('SIGKILL mid-stream: all raises end terminal, terminal ones are never delivered again', async (t) => {
    const namespace = await newNamespace('restart');
    const peer = await startRawPeer(() => XMLRPC_OK, { delayMs: 40 });
    const args = ['--namespace', namespace, '--sync-mode'];
    let operator = await spawnOperator(args);
    try {
      await operator.started;
      await createSubscriber(namespace, 'a', { event: 'E_STREAM', socket: `xmlrpc:127.0.0.1:${peer.port}:a` });
      await createSubscriber(namespace, 'b', { event: 'E_STREAM', socket: `xmlrpc:127.0.0.1:${peer.port}:b` });
      await Promise.all([waitForReady(namespace, 'a'), waitForReady(namespace, 'b')]);

      const names = Array.from({ length: RAISES }, (_, i) => `raise-${String(i).padStart(3, '0')}`);
      const create = (name: string) => raiseNamed(namespace, name, { event: 'E_STREAM' });
      for (const name of names.slice(0, KILL_AFTER)) await create(name);
      // Let part of the stream finish so that the kill finds raises in every state.
      await waitFor(() => listRaises(namespace), (raises) => (raises.filter((r) => TERMINAL.has(r.status?.phase ?? '')).length >= 3 ? true : undefined));
      await operator.kill('SIGKILL');

      const atKill = await listRaises(namespace);
      const terminalAtKill = atKill.filter((r) => TERMINAL.has(r.status?.phase ?? '')).map((r) => r.metadata.name!);
      const countsAtKill = deliveriesByRaise(peer);
      assert.ok(terminalAtKill.length < RAISES, 'the kill landed mid-stream');
      for (const name of names.slice(KILL_AFTER)) await create(name);

      operator = await spawnOperator(args);
      await operator.started;
      const final = await waitFor(
        () => listRaises(namespace),
        (raises) => (raises.length === RAISES && raises.every((r) => TERMINAL.has(r.status?.phase ?? '')) ? raises : undefined),
        60_000,
      );

      assert.deepEqual(final.map((r) => r.status?.phase), names.map(() => 'Delivered'));
      const counts = deliveriesByRaise(peer);
      for (const name of names) {
        for (const method of ['a', 'b']) {
          assert.ok((counts.get(`${name}/${method}`) ?? 0) >= 1, `${name} reached subscriber ${method}`);
        }
      }
      for (const name of terminalAtKill) {
        for (const method of ['a', 'b']) {
          assert.equal(counts.get(`${name}/${method}`), countsAtKill.get(`${name}/${method}`), `${name} was terminal at the kill and got no more deliveries`);
        }
      }
      const duplicates = [...counts.values()].reduce((sum, n) => sum + n - 1, 0);
      t.diagnostic(`${terminalAtKill.length} of ${RAISES} raises terminal at the kill; ${duplicates} duplicate deliveries in ${counts.size} (raise, subscriber) pairs`);
    } finally {
      await operator.kill();
      await peer.close();
    }
  });
});

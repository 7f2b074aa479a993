// A raise matched by 1,000 subscribers: delivered to all, with a status that
// stays small (the list capped, failures first) and counts that stay exact.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { GROUP, VERSION, type Subscriber } from '../../src/api/types.js';
import { MAX_LISTED_DELIVERIES } from '../../src/core/raise-status.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { createSubscriber, raiseEvent, waitFor, waitForRaise } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { XMLRPC_OK, refusedPort, startRawPeer } from '../support/tcp-peers.js';

const SUBSCRIBERS = 1000;
const FAILING = 40;

describe('scale', () => {
  // Creating and readying 1,000 Subscribers is most of the time; a loaded machine needs more than the default.
  it(`a raise matched by ${SUBSCRIBERS} subscribers gets a valid, bounded status`, { timeout: 300_000 }, async () => {
    const namespace = await newNamespace('scale');
    const peer = await startRawPeer(() => XMLRPC_OK);
    const refused = await refusedPort();
    const operator = await startOperator(namespace, ['--sync-mode', '--retry-limit=0', '--workers=8']);
    try {
      const names = Array.from({ length: SUBSCRIBERS }, (_, i) => `sub-${String(i).padStart(4, '0')}`);
      for (let i = 0; i < names.length; i += 50) {
        await Promise.all(
          names.slice(i, i + 50).map((name, j) =>
            createSubscriber(namespace, name, {
              event: 'E_WIDE',
              socket: `xmlrpc:127.0.0.1:${i + j < FAILING ? refused : peer.port}:m`,
            }),
          ),
        );
      }
      const custom = testCluster().admin.makeApiClient(CustomObjectsApi);
      await waitFor(
        async () => ((await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'subscribers' })) as { items: Subscriber[] }).items,
        (items) => (items.filter((s) => s.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length === SUBSCRIBERS ? true : undefined),
        60_000,
      );

      const raise = await raiseEvent(namespace, { event: 'E_WIDE', params: [{ name: 'n', int: 1 }] });
      const done = await waitForRaise(namespace, raise.metadata.name!, 60_000);
      const status = done.status!;
      assert.equal(status.phase, 'PartiallyDelivered');
      const errors = [...new Set(status.deliveries!.flatMap((d) => (d.error ? [d.error.replace(/\d+/g, 'N')] : [])))];
      assert.deepEqual([status.matched, status.delivered, status.failed], [SUBSCRIBERS, SUBSCRIBERS - FAILING, FAILING], `errors listed: ${errors.join('; ')}`);
      assert.equal(peer.requests.length, SUBSCRIBERS - FAILING, 'every reachable subscriber got it exactly once');
      assert.equal(status.deliveries?.length, MAX_LISTED_DELIVERIES);
      assert.ok(status.deliveries!.slice(0, FAILING).every((d) => d.outcome === 'Failed' && d.error?.includes('connection refused')));
      assert.ok(status.deliveries!.slice(FAILING).every((d) => d.outcome === 'Delivered'));
      assert.match(status.conditions?.find((c) => c.type === 'Complete')?.message ?? '', /deliveries lists 100 of 1000, failures first/);
      const size = JSON.stringify(done).length;
      assert.ok(size < 64 * 1024, `the raise is ${size} bytes`);
    } finally {
      await operator.stop();
      await peer.close();
    }
  });
});

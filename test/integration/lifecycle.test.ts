// Subscriptions that expire and are renewed, raises deleted after their ttl,
// re-delivery on request, and the health a Subscriber's status carries.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, SUBSCRIBERS, VERSION, type EventRaise, type Subscriber } from '../../src/api/types.js';
import { HEALTH_FLUSH_MS } from '../../src/controller/delivery-health.js';
import { collectionPath } from '../../src/kube/api-client.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { createSubscriber, getObject, raiseEvent, waitFor, waitForRaise, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { XMLRPC_OK, httpResponse, refusedPort, startRawPeer } from '../support/tcp-peers.js';
import { recordRaises, recordWatch } from '../support/watch-recorder.js';

const custom = () => testCluster().admin.makeApiClient(CustomObjectsApi);

function annotate(namespace: string, plural: 'subscribers' | 'eventraises', name: string, annotations: Record<string, string>) {
  return custom().patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, namespace, plural, name, body: { metadata: { annotations } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

describe('lifecycle', () => {
  it('spec.expire: Ready until the period ends, Expired after, delivered again once renewed', async () => {
    const namespace = await newNamespace('expire');
    const peer = await startRawPeer(() => XMLRPC_OK);
    const operator = await startOperator(namespace, ['--sync-mode']);
    try {
      await createSubscriber(namespace, 'short', { event: 'E', socket: `xmlrpc:127.0.0.1:${peer.port}:m`, expire: 3 });
      const ready = await waitForReady(namespace, 'short');
      assert.equal(ready.status?.subscribedAt, ready.metadata.creationTimestamp, 'the period counts from the creation');
      assert.equal(Date.parse(ready.status!.expiresAt!), Date.parse(ready.status!.subscribedAt!) + 3000);

      const expired = await waitForReady(namespace, 'short', 'False');
      assert.equal(expired.status?.conditions?.find((c) => c.type === 'Ready')?.reason, 'Expired');
      const late = await raiseEvent(namespace, { event: 'E' });
      assert.equal((await waitForRaise(namespace, late.metadata.name!)).status?.phase, 'NoSubscribers');

      await annotate(namespace, 'subscribers', 'short', { 'eventxmlrpc.io/renew': 'first' });
      const renewed = await waitFor(
        () => getObject<Subscriber>(namespace, 'subscribers', 'short'),
        (s) => (s.status?.renewal === 'first' && s.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? s : undefined),
      );
      assert.ok(Date.parse(renewed.status!.subscribedAt!) > Date.parse(ready.status!.subscribedAt!));
      const again = await raiseEvent(namespace, { event: 'E' });
      assert.equal((await waitForRaise(namespace, again.metadata.name!)).status?.phase, 'Delivered');
    } finally {
      await operator.stop();
      await peer.close();
    }
  });

  it('spec.ttlSecondsAfterFinished: the finished raise is deleted after it', async () => {
    const namespace = await newNamespace('ttl');
    const operator = await startOperator(namespace);
    // What happened to the raise, in order, as a watch saw it: it may be gone before a poll sees it finished.
    const recorder = await recordRaises(namespace);
    try {
      const keep = await raiseEvent(namespace, { event: 'E_NOBODY' });
      await custom().createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: 'eventraises',
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'EventRaise', metadata: { name: 'short-lived' }, spec: { event: 'E_NOBODY', ttlSecondsAfterFinished: 1 } },
      });
      await recorder.until(() => (recorder.phases('short-lived').includes('deleted') ? true : undefined), 'deletion of short-lived', 10_000);
      const seen = recorder.phases('short-lived');
      assert.deepEqual(seen.filter((phase, i) => phase !== seen[i - 1]), ['new', 'NoSubscribers', 'deleted'], 'finished first, then deleted');
      assert.equal((await waitForRaise(namespace, keep.metadata.name!)).status?.phase, 'NoSubscribers', 'no ttl: kept');
    } finally {
      recorder.stop();
      await operator.stop();
    }
  });

  it('eventxmlrpc.io/redeliver: the failed subscribers get the raise again, once per value', async () => {
    const namespace = await newNamespace('redeliver');
    const healthy = await startRawPeer(() => XMLRPC_OK);
    let calls = 0;
    const flaky = await startRawPeer(() => (++calls === 1 ? httpResponse(500, 'down', 'Internal Server Error') : XMLRPC_OK));
    const operator = await startOperator(namespace, ['--sync-mode', '--retry-limit=0']);
    try {
      await createSubscriber(namespace, 'healthy', { event: 'E', socket: `xmlrpc:127.0.0.1:${healthy.port}:m` });
      await createSubscriber(namespace, 'flaky', { event: 'E', socket: `xmlrpc:127.0.0.1:${flaky.port}:m` });
      await Promise.all([waitForReady(namespace, 'healthy'), waitForReady(namespace, 'flaky')]);
      const raise = await raiseEvent(namespace, { event: 'E' });
      const first = await waitForRaise(namespace, raise.metadata.name!);
      assert.equal(first.status?.phase, 'PartiallyDelivered');

      await annotate(namespace, 'eventraises', raise.metadata.name!, { 'eventxmlrpc.io/redeliver': 'one' });
      const second = await waitFor(
        () => getObject<EventRaise>(namespace, 'eventraises', raise.metadata.name!),
        (r) => (r.status?.redelivered === 'one' ? r : undefined),
      );
      assert.equal(second.status?.phase, 'Delivered');
      assert.deepEqual([second.status?.matched, second.status?.delivered, second.status?.failed], [2, 2, 0]);
      assert.deepEqual([healthy.requests.length, flaky.requests.length], [1, 2], 'only the failed subscriber got it again');

      // The same value again changes nothing; another annotation neither.
      await annotate(namespace, 'eventraises', raise.metadata.name!, { 'eventxmlrpc.io/redeliver': 'one', unrelated: 'x' });
      const marker = await raiseEvent(namespace, { event: 'E_NOBODY' });
      await waitForRaise(namespace, marker.metadata.name!);
      assert.deepEqual([healthy.requests.length, flaky.requests.length], [1, 2]);
    } finally {
      await operator.stop();
      await healthy.close();
      await flaky.close();
    }
  });

  it('eventxmlrpc.io/redeliver: a value present at the first finish asks nothing more; with nobody to deliver to, NoSubscribers stays', async () => {
    const namespace = await newNamespace('redeliver-edges');
    const peer = await startRawPeer(() => XMLRPC_OK);
    const operator = await startOperator(namespace, ['--sync-mode']);
    try {
      await createSubscriber(namespace, 'one', { event: 'E', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await waitForReady(namespace, 'one');
      const copied = (await custom().createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: 'eventraises',
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'EventRaise', metadata: { name: 'copied', annotations: { 'eventxmlrpc.io/redeliver': 'old' } }, spec: { event: 'E' } },
      })) as EventRaise;
      const done = await waitForRaise(namespace, copied.metadata.name!);
      assert.deepEqual([done.status?.phase, done.status?.redelivered], ['Delivered', 'old']);

      const nobody = await raiseEvent(namespace, { event: 'E_NOBODY' });
      await waitForRaise(namespace, nobody.metadata.name!);
      await annotate(namespace, 'eventraises', nobody.metadata.name!, { 'eventxmlrpc.io/redeliver': 'again' });
      const after = await waitFor(
        () => getObject<EventRaise>(namespace, 'eventraises', nobody.metadata.name!),
        (r) => (r.status?.redelivered === 'again' ? r : undefined),
      );
      assert.deepEqual([after.status?.phase, after.status?.matched], ['NoSubscribers', 0]);
      assert.equal(peer.requests.length, 1, 'the copied annotation did not deliver the raise a second time');
    } finally {
      await operator.stop();
      await peer.close();
    }
  });

  it("a Subscriber's status carries its delivery health, written coalesced", async () => {
    const namespace = await newNamespace('health');
    const refused = await refusedPort();
    const operator = await startOperator(namespace, ['--sync-mode', '--retry-limit=0']);
    try {
      await createSubscriber(namespace, 'down', { event: 'E', socket: `xmlrpc:127.0.0.1:${refused}:m` });
      const before = await waitForReady(namespace, 'down');
      // Every status write from here on, in order.
      const writes = await recordWatch<Subscriber>(collectionPath(SUBSCRIBERS, namespace), { resourceVersion: before.metadata.resourceVersion });
      try {
        const raises = await Promise.all([0, 1, 2].map(() => raiseEvent(namespace, { event: 'E' })));
        const finished = await Promise.all(raises.map((r) => waitForRaise(namespace, r.metadata.name!)));
        const upTo3 = await writes.until(
          (changes) => {
            const i = changes.findIndex((c) => c.object.status?.consecutiveFailures === 3);
            return i < 0 ? undefined : changes.slice(0, i + 1);
          },
          'status with consecutiveFailures 3',
          15_000,
        );
        const after = upTo3.at(-1)!.object;
        assert.match(after.status?.lastError ?? '', /connection refused/);
        assert.ok(after.status?.lastDeliveryTime);
        assert.equal(after.status?.lastSuccessTime, undefined);
        // At most one health write per HEALTH_FLUSH_MS: three failures within one interval of each other are one
        // or two writes, not one per failure. The failures' times are the raises' completionTimes (whole seconds).
        const done = finished.map((r) => Date.parse(r.status!.completionTime!));
        const spreadMs = Math.max(...done) - Math.min(...done) + 1_000;
        const allowed = 1 + Math.ceil(spreadMs / HEALTH_FLUSH_MS);
        assert.ok(
          upTo3.length >= 1 && upTo3.length <= allowed,
          `${upTo3.length} status writes for 3 failures within ${spreadMs} ms (at most ${allowed}): ` +
            JSON.stringify(upTo3.map((c) => c.object.status?.consecutiveFailures)),
        );
      } finally {
        writes.stop();
      }
    } finally {
      await operator.stop();
    }
  });
});

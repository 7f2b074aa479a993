// Subscriber status, matching by namespace and event, and unsubscribing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { GROUP, VERSION, type Subscriber } from '../../src/api/types.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { createSubscriber, getObject, raiseEvent, waitFor, waitForRaise, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { startPythonPeer } from '../support/xmlrpc-peers.js';

const custom = () => testCluster().admin.makeApiClient(CustomObjectsApi);

describe('Subscriber status', () => {
  it('a valid socket gets its target and Ready=True; a spec change is observed', async () => {
    const namespace = await newNamespace('sub-status');
    const operator = await startOperator(namespace);
    try {
      await createSubscriber(namespace, 'blocker', { event: 'E_PIKE_BLOCKED', socket: 'xmlrpc:127.0.0.1:8080/rpc:block_ip' });
      const ready = await waitForReady(namespace, 'blocker');
      assert.equal(ready.status?.observedGeneration, 1);
      assert.deepEqual(ready.status?.target, { host: '127.0.0.1', port: 8080, path: '/rpc', method: 'block_ip', url: 'http://127.0.0.1:8080/rpc' });
      const condition = ready.status?.conditions?.find((c) => c.type === 'Ready');
      assert.equal(condition?.reason, 'Valid');
      assert.match(condition?.message ?? '', /E_PIKE_BLOCKED/);

      await custom().patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace, plural: 'subscribers', name: 'blocker', body: [{ op: 'replace', path: '/spec/socket', value: 'xmlrpc:[::1]:9090:ns:block' }] },
      );
      const updated = await waitFor(
        () => getObject<Subscriber>(namespace, 'subscribers', 'blocker'),
        (s) => (s.status?.observedGeneration === 2 ? s : undefined),
      );
      assert.deepEqual(updated.status?.target, { host: '[::1]', port: 9090, path: '/RPC2', method: 'ns:block', url: 'http://[::1]:9090/RPC2' });
    } finally {
      await operator.stop();
    }
  });

  it('a host that does not resolve is Ready=False HostNotFound, is not matched, and does not disturb others', async () => {
    const namespace = await newNamespace('sub-dns');
    const peer = await startPythonPeer();
    const operator = await startOperator(namespace, ['--sync-mode']);
    try {
      await createSubscriber(namespace, 'gone', { event: 'E_X', socket: 'xmlrpc:no-such-host.invalid:8080:m' });
      await createSubscriber(namespace, 'healthy', { event: 'E_X', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      const gone = await waitForReady(namespace, 'gone', 'False');
      const condition = gone.status?.conditions?.find((c) => c.type === 'Ready');
      assert.equal(condition?.reason, 'HostNotFound');
      assert.match(condition?.message ?? '', /host no-such-host\.invalid does not resolve/);
      await waitForReady(namespace, 'healthy');

      const raise = await raiseEvent(namespace, { event: 'E_X', params: [{ name: 'k', string: 'v' }] });
      const { status } = await waitForRaise(namespace, raise.metadata.name!);
      assert.equal(status?.phase, 'Delivered');
      assert.deepEqual(status?.deliveries?.map((d) => d.subscriber), ['healthy']);
      assert.deepEqual((await peer.log.waitFor(1)).map((c) => c.params), [['E_X', 'k', 'v']]);
    } finally {
      await operator.stop();
      await peer.close();
    }
  });

  it('writes no status when nothing changed, across an operator restart', async () => {
    const namespace = await newNamespace('sub-idem');
    const first = await startOperator(namespace);
    await createSubscriber(namespace, 'steady', { event: 'E_X', socket: 'xmlrpc:127.0.0.1:1:m' });
    const ready = await waitForReady(namespace, 'steady');
    await first.stop();

    const second = await startOperator(namespace);
    try {
      // A raise processed to the end proves the second operator went through its initial reconciles.
      const raise = await raiseEvent(namespace, { event: 'E_NOBODY' });
      await waitForRaise(namespace, raise.metadata.name!);
      const after = await getObject<Subscriber>(namespace, 'subscribers', 'steady');
      assert.equal(after.metadata.resourceVersion, ready.metadata.resourceVersion);
    } finally {
      await second.stop();
    }
  });
});

describe('matching', () => {
  it('a raise reaches every subscriber of its event in its namespace, and no other', async () => {
    const [home, other] = await Promise.all([newNamespace('match-home'), newNamespace('match-other')]);
    const peer = await startPythonPeer();
    const operator = await startOperator(home, ['--namespace', other, '--sync-mode']);
    try {
      await createSubscriber(home, 'one', { event: 'E_DLG_STATE_CHANGED', socket: `xmlrpc:127.0.0.1:${peer.port}:one` });
      await createSubscriber(home, 'two', { event: 'E_DLG_STATE_CHANGED', socket: `xmlrpc:127.0.0.1:${peer.port}:two` });
      await createSubscriber(home, 'other-event', { event: 'E_PIKE_BLOCKED', socket: `xmlrpc:127.0.0.1:${peer.port}:pike` });
      await createSubscriber(other, 'elsewhere', { event: 'E_PIKE_BLOCKED', socket: `xmlrpc:127.0.0.1:${peer.port}:elsewhere` });
      await Promise.all([waitForReady(home, 'one'), waitForReady(home, 'two'), waitForReady(home, 'other-event'), waitForReady(other, 'elsewhere')]);

      const inHome = await raiseEvent(home, { event: 'E_DLG_STATE_CHANGED', params: [{ name: 'new_state', int: 4 }] });
      const inOther = await raiseEvent(other, { event: 'E_DLG_STATE_CHANGED', params: [{ name: 'new_state', int: 4 }] });
      const homeDone = await waitForRaise(home, inHome.metadata.name!);
      const otherDone = await waitForRaise(other, inOther.metadata.name!);

      assert.equal(homeDone.status?.phase, 'Delivered');
      assert.deepEqual(homeDone.status?.deliveries?.map((d) => d.subscriber), ['one', 'two']);
      assert.equal(otherDone.status?.phase, 'NoSubscribers');
      assert.deepEqual([otherDone.status?.matched, otherDone.status?.delivered, otherDone.status?.failed], [0, 0, 0]);
      const calls = await peer.log.waitFor(2);
      assert.deepEqual(calls.map((c) => c.method).sort(), ['one', 'two']);
    } finally {
      await operator.stop();
      await peer.close();
    }
  });

  it('deleting a Subscriber unsubscribes it', async () => {
    const namespace = await newNamespace('unsubscribe');
    const operator = await startOperator(namespace);
    try {
      await createSubscriber(namespace, 'leaving', { event: 'E_X', socket: 'xmlrpc:127.0.0.1:1:m' });
      await waitForReady(namespace, 'leaving');
      await custom().deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'subscribers', name: 'leaving' });
      await waitFor(
        () => getObject<Subscriber>(namespace, 'subscribers', 'leaving').then(() => undefined, (err: { code?: number }) => err.code),
        (code) => (code === 404 ? true : undefined),
      );
      // The delete is committed before the raise is created, so its watch event is sent first.
      const raise = await raiseEvent(namespace, { event: 'E_X' });
      const { status } = await waitForRaise(namespace, raise.metadata.name!);
      assert.equal(status?.phase, 'NoSubscribers');
    } finally {
      await operator.stop();
    }
  });
});

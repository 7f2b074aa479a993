// Deleting or changing an object cancels what has not gone out yet: a deleted
// raise's queued deliveries and retries stop, a deleted Subscriber gets no
// more requests, and a changed socket takes the requests not sent yet.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { GROUP, VERSION, type EventRaise } from '../../src/api/types.js';
import type { Operator } from '../../src/operator.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { createSubscriber, getObject, listRaises, raiseEvent, raiseNamed, waitFor, waitForRaise, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { raiseNameOf, raiseParams } from '../support/raise-names.js';
import { XMLRPC_OK, httpResponse, startRawPeer } from '../support/tcp-peers.js';
import { recordRaises } from '../support/watch-recorder.js';

const api = () => testCluster().admin.makeApiClient(CustomObjectsApi);

function deleteObject(namespace: string, plural: 'subscribers' | 'eventraises', name: string): Promise<unknown> {
  return api().deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name });
}

/** A peer that holds every request until `release()`, then answers OK; it counts requests by the `raise` param. */
async function holdingPeer() {
  const held: http.ServerResponse[] = [];
  const seen: string[] = [];
  let releasing = false;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push(raiseNameOf(body) ?? '?');
      if (releasing) res.end(okBody());
      else held.push(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    held: () => held.length,
    release() {
      releasing = true;
      for (const res of held.splice(0)) res.end(okBody());
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())).finally(() => server.closeAllConnections()),
  };
}

function okBody(): string {
  return XMLRPC_OK.slice(XMLRPC_OK.indexOf('\r\n\r\n') + 4);
}

async function inFlight(operator: Operator): Promise<{ running: number; parked: number }> {
  const body = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: operator.httpPort, path: '/metrics' }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
  const read = (state: string) => Number(new RegExp(`^event_xmlrpc_raises_in_flight\\{state="${state}"\\} (\\d+)`, 'm').exec(body)?.[1] ?? NaN);
  return { running: read('running'), parked: read('parked') };
}

describe('cancellation', () => {
  it('a deleted raise sends nothing more: its queued deliveries leave the line and its memory is released', async () => {
    const namespace = await newNamespace('cancel-raise');
    const peer = await holdingPeer();
    const operator = await startOperator(namespace, ['--max-per-subscriber=1']);
    try {
      await createSubscriber(namespace, 'one-at-a-time', { event: 'E_CANCEL', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await waitForReady(namespace, 'one-at-a-time');
      await raiseNamed(namespace, 'first', { event: 'E_CANCEL', syncMode: true });
      await waitFor(async () => peer.seen.length, (n) => (n === 1 ? n : undefined));
      for (const name of ['second', 'third', 'fourth']) await raiseNamed(namespace, name, { event: 'E_CANCEL', syncMode: true });
      await waitFor(() => inFlight(operator), (load) => (load.parked === 3 ? load : undefined));
      for (const name of ['second', 'third', 'fourth']) await deleteObject(namespace, 'eventraises', name);
      await waitFor(() => inFlight(operator), (load) => (load.parked === 0 && load.running === 1 ? load : undefined));

      peer.release();
      const first = await waitForRaise(namespace, 'first');
      assert.equal(first.status?.phase, 'Delivered');
      // Another raise goes through the same subscriber after the first: the deleted ones never went out before it.
      await raiseNamed(namespace, 'after', { event: 'E_CANCEL', syncMode: true });
      assert.equal((await waitForRaise(namespace, 'after')).status?.phase, 'Delivered');
      assert.deepEqual(peer.seen, ['first', 'after']);
      // The slot is given back just after the terminal status is written.
      assert.deepEqual(await waitFor(() => inFlight(operator), (load) => (load.running === 0 && load.parked === 0 ? load : undefined)), { running: 0, parked: 0 });
    } finally {
      await operator.stop();
      await peer.close();
    }
  });

  it('a deleted raise stops retrying', async () => {
    const namespace = await newNamespace('cancel-retry');
    const peer = await startRawPeer(() => httpResponse(503, 'busy', 'Service Unavailable'));
    const operator = await startOperator(namespace);
    try {
      await createSubscriber(namespace, 'busy', {
        event: 'E_RETRY',
        socket: `xmlrpc:127.0.0.1:${peer.port}:m`,
        delivery: { retry: { limit: 50, backoff: 'linear', initialDelay: '300ms', maxDelay: '300ms' } },
      });
      await waitForReady(namespace, 'busy');
      await raiseNamed(namespace, 'retrying', { event: 'E_RETRY', syncMode: true });
      await peer.waitFor(3);
      await deleteObject(namespace, 'eventraises', 'retrying');
      await waitFor(() => inFlight(operator), (load) => (load.parked === 0 && load.running === 0 ? load : undefined));
      const after = peer.requests.length;
      // Another raise of the subscriber shows the operator went on; the deleted one made no attempt since.
      await raiseNamed(namespace, 'marker', { event: 'E_RETRY', syncMode: true });
      await peer.waitFor(after + 3);
      await deleteObject(namespace, 'eventraises', 'marker');
      const raisesSent = peer.requests.slice(after).map((r) => raiseNameOf(r.body));
      assert.deepEqual([...new Set(raisesSent)], ['marker'], 'only the marker raise was attempted after the deletion');
    } finally {
      await operator.stop();
      await peer.close();
    }
  });

  it('a deleted Subscriber gets none of its queued requests; a changed socket gets them at the new address', async () => {
    const namespace = await newNamespace('cancel-sub');
    const old = await holdingPeer();
    const moved = await holdingPeer();
    moved.release();
    const operator = await startOperator(namespace, ['--max-per-subscriber=1']);
    try {
      await createSubscriber(namespace, 'moving', { event: 'E_MOVE', socket: `xmlrpc:127.0.0.1:${old.port}:m` });
      await createSubscriber(namespace, 'leaving', { event: 'E_LEAVE', socket: `xmlrpc:127.0.0.1:${old.port}:m` });
      await Promise.all([waitForReady(namespace, 'moving'), waitForReady(namespace, 'leaving')]);
      for (const event of ['E_MOVE', 'E_LEAVE']) {
        for (let i = 0; i < 4; i++) await raiseEvent(namespace, { event, params: raiseParams(`${event}-${i}`), syncMode: true }, `${event.toLowerCase().replace('_', '-')}-${i}`);
      }
      await waitFor(async () => old.held(), (n) => (n === 2 ? n : undefined)); // one of each; three of each queued

      const sub = await getObject<{ spec: { socket: string } }>(namespace, 'subscribers', 'moving');
      await api().patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace, plural: 'subscribers', name: 'moving', body: [{ op: 'replace', path: '/spec/socket', value: `xmlrpc:127.0.0.1:${moved.port}:m` }] },
        undefined,
      );
      assert.notEqual(sub.spec.socket, `xmlrpc:127.0.0.1:${moved.port}:m`);
      await deleteObject(namespace, 'subscribers', 'leaving');
      // The operator has seen both changes once it made Ready a Subscriber created after them: its watch
      // delivers the changes in order.
      await createSubscriber(namespace, 'marker', { event: 'E_MARKER', socket: `xmlrpc:127.0.0.1:${moved.port}:m` });
      await waitForReady(namespace, 'marker');
      const movedStatus = await getObject<{ status?: { target?: { port?: number } } }>(namespace, 'subscribers', 'moving');
      assert.equal(movedStatus.status?.target?.port, moved.port, 'the moved subscriber describes its new socket');
      old.release();

      const raises = await waitFor(
        () => listRaises(namespace),
        (items) => (items.length === 8 && items.every((r) => r.status?.phase && r.status.phase !== 'Pending') ? items : undefined),
        30_000,
      );
      assert.deepEqual(old.seen.sort(), ['E_LEAVE-0', 'E_MOVE-0'], 'nothing more went to the old address');
      assert.deepEqual(moved.seen.sort(), ['E_MOVE-1', 'E_MOVE-2', 'E_MOVE-3']);
      const leaving = raises.filter((r: EventRaise) => r.spec.event === 'E_LEAVE' && r.metadata.name !== 'e-leave-0');
      for (const raise of leaving) {
        assert.equal(raise.status?.phase, 'Failed');
        assert.match(raise.status?.deliveries?.[0]?.error ?? '', /not sent: the Subscriber was deleted/);
      }
    } finally {
      await operator.stop();
      await old.close();
      await moved.close();
    }
  });
});

describe('a raise in flight shows it', () => {
  it('a sync raise waiting on a subscriber that never answers is Pending with a startTime and Complete=False Delivering', async () => {
    const namespace = await newNamespace('in-flight');
    const peer = await holdingPeer();
    const operator = await startOperator(namespace);
    try {
      await createSubscriber(namespace, 'silent', { event: 'E_WAIT', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await waitForReady(namespace, 'silent');
      await raiseEvent(namespace, { event: 'E_WAIT', syncMode: true }, 'waiting');
      const raise = await waitFor(
        () => getObject<EventRaise>(namespace, 'eventraises', 'waiting'),
        (r) => (r.status?.phase ? r : undefined),
      );
      assert.equal(raise.status?.phase, 'Pending');
      assert.ok(raise.status?.startTime);
      assert.equal(raise.status?.matched, 1);
      const complete = raise.status?.conditions?.find((c) => c.type === 'Complete');
      assert.equal(complete?.status, 'False');
      assert.equal(complete?.reason, 'Delivering');
      peer.release();
      assert.equal((await waitForRaise(namespace, 'waiting')).status?.phase, 'Delivered');
    } finally {
      await operator.stop();
      await peer.close();
    }
  });

  it('a raise that finishes quickly gets one status write, its terminal one', async () => {
    const namespace = await newNamespace('quick');
    const peer = await startRawPeer(() => XMLRPC_OK);
    const operator = await startOperator(namespace);
    const recorder = await recordRaises(namespace);
    try {
      await createSubscriber(namespace, 'fast', { event: 'E_FAST', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await waitForReady(namespace, 'fast');
      await raiseEvent(namespace, { event: 'E_FAST', syncMode: true }, 'fast');
      assert.equal((await waitForRaise(namespace, 'fast')).status?.phase, 'Delivered');
      await waitFor(async () => recorder.phases('fast'), (p) => (p.includes('Delivered') ? p : undefined));
      assert.deepEqual(recorder.phases('fast'), ['new', 'Delivered']);
    } finally {
      recorder.stop();
      await operator.stop();
      await peer.close();
    }
  });
});

// Raises delivered end to end: objects in, XML-RPC calls decoded by two
// independent server implementations, status out.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Operator } from '../../src/operator.js';
import { newNamespace } from '../support/cluster.js';
import { createSubscriber, raiseEvent, waitForRaise, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { startNpmPeer, startPythonPeer, type XmlRpcPeer } from '../support/xmlrpc-peers.js';

const PARAMS = [
  { name: 'ip', string: '192.168.2.11' },
  { name: 'count', int: -3 },
  { name: 'extra', string: 'INVITE <sip:a@b> & ☃\r\n' },
  { string: 'unnamed' },
];
// What an XML-RPC decoder returns for PARAMS, after the event name.
const PLAIN_DECODED = ['ip', '192.168.2.11', 'count', -3, 'extra', 'INVITE <sip:a@b> & ☃\r\n', 'unnamed'];
const STRUCT_DECODED = [{ ip: '192.168.2.11' }, { count: -3 }, { extra: 'INVITE <sip:a@b> & ☃\r\n' }, 'unnamed'];

// Text that looks like an entity, a character reference or markup: the server must decode it as written.
const ENTITY_LIKE = ['Tom &amp; Jerry', 'price &lt;5', 'x&#60;y', 'x&#x3c;y', 'ctl&#1;x', 'AT&T;', '&x;', ']]>'];

const peers: Array<[string, () => Promise<XmlRpcPeer>]> = [
  ['Python xmlrpc.server', startPythonPeer],
  ['npm xmlrpc', () => startNpmPeer(['on_event'])],
];

for (const [peerName, startPeer] of peers) {
  describe(`delivery to ${peerName}`, () => {
    let namespace: string;
    let operator: Operator;
    let peer: XmlRpcPeer;

    before(async () => {
      namespace = await newNamespace('delivery');
      peer = await startPeer();
      operator = await startOperator(namespace);
      await createSubscriber(namespace, 'plain', { event: 'E_TEST', socket: `xmlrpc:127.0.0.1:${peer.port}:on_event` });
      await createSubscriber(namespace, 'struct', {
        event: 'E_TEST',
        socket: `xmlrpc:localhost:${peer.port}/RPC2:on_event`,
        useStructParam: true,
      });
      await Promise.all([waitForReady(namespace, 'plain'), waitForReady(namespace, 'struct')]);
    });
    after(async () => {
      await operator?.stop();
      await peer?.close();
    });

    for (const syncMode of [true, false]) {
      it(`${syncMode ? 'sync' : 'async'}: each subscriber decodes the event in its param mode`, async () => {
        const before = peer.log.calls.length;
        const raise = await raiseEvent(namespace, { event: 'E_TEST', params: PARAMS, syncMode });
        const done = await waitForRaise(namespace, raise.metadata.name!);
        const calls = (await peer.log.waitFor(before + 2)).slice(before);

        assert.deepEqual(
          calls.map((c) => c.params).sort((a) => (typeof a[1] === 'object' ? 1 : -1)),
          [
            ['E_TEST', ...PLAIN_DECODED],
            ['E_TEST', ...STRUCT_DECODED],
          ],
        );
        assert.ok(calls.every((c) => c.method === 'on_event'));

        const status = done.status!;
        assert.equal(status.observedGeneration, 1);
        assert.deepEqual([status.matched, status.delivered, status.failed], [2, 2, 0]);
        assert.ok(status.startTime && status.completionTime);
        const complete = status.conditions?.find((c) => c.type === 'Complete');
        assert.equal(complete?.status, 'True');
        if (syncMode) {
          assert.equal(status.phase, 'Delivered');
          assert.deepEqual(
            status.deliveries?.map((d) => [d.subscriber, d.url, d.method, d.outcome, d.httpStatus, d.attempts]),
            [
              ['plain', `http://127.0.0.1:${peer.port}/RPC2`, 'on_event', 'Delivered', 200, 1],
              ['struct', `http://localhost:${peer.port}/RPC2`, 'on_event', 'Delivered', 200, 1],
            ],
          );
          assert.ok(status.deliveries?.every((d) => typeof d.durationMs === 'number' && d.durationMs >= 0));
        } else {
          assert.equal(status.phase, 'Dispatched');
          assert.equal(status.deliveries, undefined);
        }
      });
    }

    it('text that looks like an entity arrives exactly as written', async () => {
      const before = peer.log.calls.length;
      const params = ENTITY_LIKE.map((text, i) => ({ name: `p${i}`, string: text }));
      const raise = await raiseEvent(namespace, { event: 'E_TEST', params, syncMode: true });
      const done = await waitForRaise(namespace, raise.metadata.name!);
      assert.equal(done.status?.phase, 'Delivered');
      const calls = (await peer.log.waitFor(before + 2)).slice(before);
      const plain = calls.find((c) => typeof c.params[2] === 'string');
      const struct = calls.find((c) => typeof c.params[1] === 'object');
      assert.deepEqual(plain?.params, ['E_TEST', ...ENTITY_LIKE.flatMap((text, i) => [`p${i}`, text])]);
      assert.deepEqual(struct?.params, ['E_TEST', ...ENTITY_LIKE.map((text, i) => ({ [`p${i}`]: text }))]);
    });
  });
}

describe('spec.delivery.keepAlive', () => {
  it('raises in a row reach a keep-alive server over one connection, and an HTTP/1.0 server over one each', async () => {
    const namespace = await newNamespace('keepalive');
    const npm = await startNpmPeer(['on_event']);
    const python = await startPythonPeer();
    const operator = await startOperator(namespace);
    try {
      const delivery = { keepAlive: true };
      await createSubscriber(namespace, 'npm', { event: 'E_TEST', socket: `xmlrpc:127.0.0.1:${npm.port}:on_event`, delivery });
      await createSubscriber(namespace, 'python', { event: 'E_TEST', socket: `xmlrpc:127.0.0.1:${python.port}:on_event`, delivery });
      await Promise.all([waitForReady(namespace, 'npm'), waitForReady(namespace, 'python')]);
      for (let i = 0; i < 3; i++) {
        const raise = await raiseEvent(namespace, { event: 'E_TEST', params: [{ name: 'i', int: i }], syncMode: true });
        const done = await waitForRaise(namespace, raise.metadata.name!);
        assert.deepEqual(
          done.status?.deliveries?.map((d) => [d.subscriber, d.outcome]),
          [
            ['npm', 'Delivered'],
            ['python', 'Delivered'],
          ],
        );
      }
      for (const peer of [npm, python]) assert.deepEqual((await peer.log.waitFor(3)).map((c) => c.params), [0, 1, 2].map((i) => ['E_TEST', 'i', i]));
      assert.equal(npm.connections(), 1);
      const opened = (await operator.metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'event_xmlrpc_delivery_connections_opened_total');
      assert.deepEqual(
        opened?.values.filter((v) => v.labels.namespace === namespace).map((v) => v.value),
        [4],
        'one to the npm server, one per request to the HTTP/1.0 one',
      );
    } finally {
      await operator.stop();
      await npm.close();
      await python.close();
    }
  });
});

describe('operator defaults', () => {
  it('--sync-mode and --use-struct-param apply where the objects leave them unset', async () => {
    const namespace = await newNamespace('defaults');
    const peer = await startPythonPeer();
    const operator = await startOperator(namespace, ['--sync-mode', '--use-struct-param']);
    try {
      await createSubscriber(namespace, 'inherits', { event: 'E_TEST', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await createSubscriber(namespace, 'overrides', { event: 'E_TEST', socket: `xmlrpc:127.0.0.1:${peer.port}:m`, useStructParam: false });
      await Promise.all([waitForReady(namespace, 'inherits'), waitForReady(namespace, 'overrides')]);
      const raise = await raiseEvent(namespace, { event: 'E_TEST', params: [{ name: 'a', string: 'x' }] });
      const done = await waitForRaise(namespace, raise.metadata.name!);
      assert.equal(done.status?.phase, 'Delivered', 'sync mode came from the flag');
      assert.equal(done.status?.deliveries?.length, 2);
      const calls = await peer.log.waitFor(2);
      assert.deepEqual(calls.map((c) => JSON.stringify(c.params)).sort(), ['["E_TEST","a","x"]', '["E_TEST",{"a":"x"}]']);
    } finally {
      await operator.stop();
      await peer.close();
    }
  });
});

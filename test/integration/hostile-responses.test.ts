// What a subscriber's server can send back, and what the operator makes of
// it: bounded reads, a documented verdict for every body, bounded text in
// status. Real operator, raw TCP peers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { EventsV1Api } from '@kubernetes/client-node';
import type { DeliveryRecord, Subscriber } from '../../src/api/types.js';
import { MAX_TEXT } from '../../src/core/text.js';
import type { Operator } from '../../src/operator.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { deepMethodResponse, hugeFault } from '../support/hostile-bodies.js';
import { createSubscriber, getObject, raiseEvent, waitFor, waitForRaise, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { XMLRPC_OK, binaryResponse, httpResponse, startEndlessPeer, startRawPeer, type EndlessPeer, type RawPeer } from '../support/tcp-peers.js';

const MAX_RESPONSE_BYTES = 65_536;
const TWENTY_MB = 20 * 1024 * 1024;

async function deliverOnce(namespace: string, event: string): Promise<DeliveryRecord> {
  const raise = await raiseEvent(namespace, { event, params: [{ name: 'n', int: 1 }], syncMode: true });
  const done = await waitForRaise(namespace, raise.metadata.name!, 60_000);
  assert.equal(done.status?.deliveries?.length, 1, JSON.stringify(done.status));
  return done.status!.deliveries![0]!;
}

describe('hostile responses, default --max-response-bytes', () => {
  let namespace: string;
  let operator: Operator;
  let endless: EndlessPeer;
  const peers: RawPeer[] = [];
  const subscribers: Record<string, number> = {};

  before(async () => {
    namespace = await newNamespace('hostile');
    endless = await startEndlessPeer('HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n');
    const raw = async (name: string, reply: string | Buffer) => {
      const peer = await startRawPeer(() => reply);
      peers.push(peer);
      subscribers[name] = peer.port;
    };
    await raw('gzip', binaryResponse(200, gzipSync(hugeFault(10)), ['Content-Encoding: gzip']));
    await raw('binary', binaryResponse(200, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0x00, 0x41])));
    await raw('deep', httpResponse(200, deepMethodResponse(9000)));
    await raw('fault-20mb', httpResponse(200, hugeFault(TWENTY_MB)));
    await raw('healthy', XMLRPC_OK);
    subscribers.endless = endless.port;
    operator = await startOperator(namespace, ['--retry-limit=0']);
    for (const [name, port] of Object.entries(subscribers)) {
      await createSubscriber(namespace, name, { event: `E_${name.toUpperCase().replace('-', '_')}`, socket: `xmlrpc:127.0.0.1:${port}:m` });
    }
    await Promise.all(Object.keys(subscribers).map((name) => waitForReady(namespace, name)));
  });
  after(async () => {
    await operator?.stop();
    await endless?.close();
    for (const peer of peers) await peer.close();
  });

  it('an endless 400 MB body: read up to the bound, the connection dropped, the attempt failed', async () => {
    const record = await deliverOnce(namespace, 'E_ENDLESS');
    assert.deepEqual([record.outcome, record.httpStatus, record.attempts], ['Failed', 200, 1]);
    assert.equal(record.error, `response body over ${MAX_RESPONSE_BYTES} bytes (--max-response-bytes): not read, connection closed`);
    const [connection] = await endless.waitForClosed(1);
    assert.equal(connection!.closedByClient, true);
    // What the peer got into the connection before it was dropped: the bound plus the kernels' socket buffers (a few MB).
    assert.ok(connection!.bodyBytesWritten < 32 * 1024 * 1024, `the peer wrote ${connection!.bodyBytesWritten} bytes`);
  });

  it('a gzip body is not read: HTTP 200 decides, and the record says why', async () => {
    const record = await deliverOnce(namespace, 'E_GZIP');
    assert.deepEqual([record.outcome, record.httpStatus], ['Delivered', 200]);
    assert.equal(record.error, 'body not read: Content-Encoding gzip; HTTP 200 decides');
  });

  it('a binary body: HTTP 200 decides, and the record says why', async () => {
    const record = await deliverOnce(namespace, 'E_BINARY');
    assert.deepEqual([record.outcome, record.httpStatus], ['Delivered', 200]);
    assert.equal(record.error, 'body not judged: binary body: not UTF-8 text; HTTP 200 decides');
  });

  it('a methodResponse nested 9,000 levels deep: HTTP 200 decides, and the record says why', async () => {
    const record = await deliverOnce(namespace, 'E_DEEP');
    assert.deepEqual([record.outcome, record.httpStatus], ['Delivered', 200]);
    assert.equal(record.error, 'body not judged: elements nested deeper than 32 levels; HTTP 200 decides');
  });

  it('a 20 MB fault is over the bound: failed unread', async () => {
    const record = await deliverOnce(namespace, 'E_FAULT_20MB');
    assert.deepEqual([record.outcome, record.httpStatus, record.faultString], ['Failed', 200, undefined]);
    assert.match(record.error ?? '', /^response body over 65536 bytes/);
  });

  it('after all of them, a healthy subscriber is still delivered to', async () => {
    const record = await deliverOnce(namespace, 'E_HEALTHY');
    assert.deepEqual([record.outcome, record.error], ['Delivered', undefined]);
  });
});

describe('a 20 MB faultString read whole (--max-response-bytes=32MiB)', () => {
  it('reaches status, Subscriber health and the Event cut to the text bound', async () => {
    const namespace = await newNamespace('hostile-fault');
    const peer = await startRawPeer(() => httpResponse(200, hugeFault(TWENTY_MB)));
    const operator = await startOperator(namespace, ['--retry-limit=0', `--max-response-bytes=${32 * 1024 * 1024}`]);
    try {
      await createSubscriber(namespace, 'faulty', { event: 'E_FAULT', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await waitForReady(namespace, 'faulty');
      const record = await deliverOnce(namespace, 'E_FAULT');
      assert.deepEqual([record.outcome, record.httpStatus, record.faultCode], ['Failed', 200, 4]);
      assert.equal(record.faultString, `${'x'.repeat(MAX_TEXT - 1)}…`);
      const health = await waitFor(
        () => getObject<Subscriber>(namespace, 'subscribers', 'faulty'),
        (s) => s.status?.lastError,
      );
      assert.ok(health.length <= MAX_TEXT, `lastError is ${health.length} characters`);
      assert.ok(health.startsWith('fault 4 xxx'), health);
      const events = testCluster().admin.makeApiClient(EventsV1Api);
      const event = await waitFor(
        () => events.listNamespacedEvent({ namespace }),
        (list) => list.items.find((e) => e.reason === 'DeliveryFailed' && e.regarding?.name === 'faulty'),
      );
      assert.ok((event.note ?? '').length <= MAX_TEXT, `the Event note is ${event.note?.length} characters`);
      assert.match(event.note ?? '', /^E_FAULT from EventRaise .*: fault 4 xxx/);
    } finally {
      await operator.stop();
      await peer.close();
    }
  });
});

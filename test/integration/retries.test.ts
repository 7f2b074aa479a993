// Subscriber.spec.delivery: what is retried, how often, how far apart, and
// that one subscriber's retries never hold up another.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API_VERSION, type DeliverySpec } from '../../src/api/types.js';
import type { Operator } from '../../src/operator.js';
import { newNamespace } from '../support/cluster.js';
import { createSubscriber, raiseEvent, waitForRaise, waitForReady } from '../support/objects.js';
import { storeUnchecked } from '../support/etcd.js';
import { startOperator } from '../support/operator.js';
import { XMLRPC_OK, httpResponse, refusedPort, startRawPeer, xmlRpcFault, type RawPeer } from '../support/tcp-peers.js';

/** A peer that answers from a script, one entry per request, then XML-RPC OK; it notes when each request came. */
async function scriptedPeer(script: string[]): Promise<RawPeer & { times: number[] }> {
  const times: number[] = [];
  const peer = await startRawPeer(() => {
    times.push(Date.now());
    return script[times.length - 1] ?? XMLRPC_OK;
  });
  return Object.assign(peer, { times });
}

const FAST: DeliverySpec = { retry: { limit: 3, backoff: 'exponential', initialDelay: '50ms', maxDelay: '2s' } };

describe('retries', () => {
  let namespace: string;
  let operator: Operator;
  const peers: RawPeer[] = [];
  let n = 0;

  before(async () => {
    namespace = await newNamespace('retries');
    operator = await startOperator(namespace, ['--sync-mode']);
  });
  after(async () => {
    await operator?.stop();
    for (const peer of peers) await peer.close();
  });

  /** One subscriber on its own event, then one raise of that event; returns the raise's only delivery. */
  async function deliverOnce(socketFor: (port: number) => string, port: number, delivery: DeliverySpec) {
    const event = `E_RETRY_${++n}`;
    await createSubscriber(namespace, `sub-${n}`, { event, socket: socketFor(port), delivery });
    await waitForReady(namespace, `sub-${n}`);
    const raise = await raiseEvent(namespace, { event });
    const done = await waitForRaise(namespace, raise.metadata.name!);
    return { phase: done.status?.phase, delivery: done.status?.deliveries?.[0] };
  }
  const socket = (port: number) => `xmlrpc:127.0.0.1:${port}:m`;

  it('retries HTTP 503 and 500 until the server answers, and records every attempt', async () => {
    const peer = await scriptedPeer([httpResponse(503, 'busy', 'Service Unavailable'), httpResponse(500, 'oops', 'Internal Server Error')]);
    peers.push(peer);
    const { phase, delivery } = await deliverOnce(socket, peer.port, FAST);
    assert.equal(phase, 'Delivered');
    assert.equal(delivery?.attempts, 3);
    assert.equal(delivery?.httpStatus, 200);
    assert.equal(peer.requests.length, 3);
    const [a, b, c] = peer.times as [number, number, number];
    assert.ok(b - a >= 35 && c - b >= 70, `exponential pauses: ${b - a}ms then ${c - b}ms`);
    const metrics = await (await fetch(`http://127.0.0.1:${operator.httpPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`^event_xmlrpc_delivery_attempts_total\\{outcome="failed",namespace="${namespace}"\\} 2$`, 'm'));
    assert.match(metrics, new RegExp(`^event_xmlrpc_delivery_attempts_total\\{outcome="delivered",namespace="${namespace}"\\} 1$`, 'm'));
    assert.match(metrics, new RegExp(`^event_xmlrpc_deliveries_total\\{outcome="delivered",namespace="${namespace}"\\} 1$`, 'm'));
  });

  it('honours Retry-After on 429', async () => {
    const tooMany = 'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
    const peer = await scriptedPeer([tooMany]);
    peers.push(peer);
    const { phase, delivery } = await deliverOnce(socket, peer.port, FAST);
    assert.equal(phase, 'Delivered');
    assert.equal(delivery?.attempts, 2);
    const [a, b] = peer.times as [number, number];
    assert.ok(b - a >= 950, `waited ${b - a}ms for Retry-After: 1`);
  });

  it('caps Retry-After at maxDelay', async () => {
    const RETRY_AFTER_S = 120;
    const tooMany = `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${RETRY_AFTER_S}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
    const peer = await scriptedPeer([tooMany]);
    peers.push(peer);
    const { delivery } = await deliverOnce(socket, peer.port, { retry: { limit: 1, initialDelay: '50ms', maxDelay: '300ms' } });
    assert.equal(delivery?.attempts, 2);
    const [a, b] = peer.times as [number, number];
    // At least maxDelay; and the retry came while the server's own Retry-After was still running.
    assert.ok(b - a >= 250, `waited ${b - a}ms, at least maxDelay (300ms)`);
    assert.ok(b - a < RETRY_AFTER_S * 1000, `waited ${b - a}ms: capped, not Retry-After's ${RETRY_AFTER_S}s`);
  });

  it('does not retry other 4xx', async () => {
    const peer = await scriptedPeer([httpResponse(404, 'no', 'Not Found')]);
    peers.push(peer);
    const { phase, delivery } = await deliverOnce(socket, peer.port, FAST);
    assert.deepEqual([phase, delivery?.attempts, delivery?.httpStatus], ['Failed', 1, 404]);
    assert.equal(peer.requests.length, 1);
  });

  it('does not retry a fault unless its code is listed', async () => {
    const plain = await scriptedPeer([xmlRpcFault(4, 'bad params')]);
    const listed = await scriptedPeer([xmlRpcFault(-32000, 'try later')]);
    peers.push(plain, listed);
    const first = await deliverOnce(socket, plain.port, FAST);
    assert.deepEqual([first.phase, first.delivery?.attempts, first.delivery?.faultCode], ['Failed', 1, 4]);
    const second = await deliverOnce(socket, listed.port, { ...FAST, retryOnFaultCodes: [-32000] });
    assert.deepEqual([second.phase, second.delivery?.attempts], ['Delivered', 2]);
  });

  it('gives up after the limit on a refused connection', async () => {
    const port = await refusedPort();
    const { phase, delivery } = await deliverOnce(socket, port, { retry: { limit: 2, initialDelay: '20ms' } });
    assert.deepEqual([phase, delivery?.attempts], ['Failed', 3]);
    assert.match(delivery?.error ?? '', /connection refused/);
  });

  it("one subscriber's retries do not delay another subscriber of the same raise", async () => {
    const failing = await scriptedPeer(Array(3).fill(httpResponse(503, 'busy', 'Service Unavailable')));
    const healthy = await scriptedPeer([]);
    peers.push(failing, healthy);
    await createSubscriber(namespace, 'slow-retries', {
      event: 'E_SHARED',
      socket: socket(failing.port),
      delivery: { retry: { limit: 3, backoff: 'linear', initialDelay: '700ms', maxDelay: '2s' } },
    });
    await createSubscriber(namespace, 'healthy', { event: 'E_SHARED', socket: socket(healthy.port) });
    await Promise.all([waitForReady(namespace, 'slow-retries'), waitForReady(namespace, 'healthy')]);
    const raise = await raiseEvent(namespace, { event: 'E_SHARED' });
    const done = await waitForRaise(namespace, raise.metadata.name!);
    const byName = Object.fromEntries((done.status?.deliveries ?? []).map((d) => [d.subscriber, d]));
    assert.equal(done.status?.phase, 'Delivered');
    assert.equal(byName['slow-retries']?.attempts, 4);
    assert.equal(failing.times.length, 4);
    assert.equal(healthy.times.length, 1);
    // Orders, from the peers' own arrival stamps: the healthy subscriber had the raise before the failing
    // one's first retry, which comes a backoff pause (700ms, ±20%) after its first answer.
    const [firstTry, firstRetry] = failing.times as [number, number];
    const [healthyAt] = healthy.times as [number];
    assert.ok(firstRetry - firstTry >= 0.8 * 700, `the failing subscriber's first retry came ${firstRetry - firstTry}ms after its first attempt`);
    assert.ok(healthyAt < firstRetry, `the healthy subscriber got the raise ${healthyAt - firstTry}ms after the failing one's first attempt, before its first retry`);
    // The status says the same: the healthy delivery took a fraction of the failing one's, which spans its pauses.
    assert.ok(byName['slow-retries']!.durationMs >= 0.7 * (700 + 1400 + 2000));
    assert.ok(
      byName.healthy!.durationMs < byName['slow-retries']!.durationMs / 2,
      `healthy ${byName.healthy!.durationMs}ms, slow-retries ${byName['slow-retries']!.durationMs}ms`,
    );
  });
});

describe('a Subscriber stored before the schema had its maxima', () => {
  it('is held to them: a maxDelay past what a timer keeps does not retry at once', async () => {
    const namespace = await newNamespace('retries-old');
    const peer = await scriptedPeer(Array.from({ length: 10 }, () => httpResponse(500, 'down', 'Internal Server Error')));
    const operator = await startOperator(namespace, ['--sync-mode', '--shutdown-grace=1s']);
    try {
      // 99000m is over 2^31-1 ms even less 20% of jitter: Node would fire such a pause after 1 ms. Admission refuses it today.
      await storeUnchecked('subscribers', {
        apiVersion: API_VERSION,
        kind: 'Subscriber',
        metadata: { name: 'old', namespace },
        spec: { event: 'E_OLD', socket: `xmlrpc:127.0.0.1:${peer.port}:m`, delivery: { retry: { limit: 5, initialDelay: '99000m', maxDelay: '99999m' } } },
      });
      await waitForReady(namespace, 'old');
      await raiseEvent(namespace, { event: 'E_OLD' });
      await peer.waitFor(1);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(peer.requests.length, 1, `requests at ${peer.times.map((t) => t - peer.times[0]!).join(', ')} ms`);
    } finally {
      await operator.stop();
      await peer.close();
    }
  });
});

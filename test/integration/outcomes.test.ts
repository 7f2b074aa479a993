// Sync raises record one entry per subscriber, whatever the subscriber did:
// answered, refused, failed over HTTP, faulted, or never answered.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeliveryRecord } from '../../src/api/types.js';
import type { Operator } from '../../src/operator.js';
import { newNamespace } from '../support/cluster.js';
import { createSubscriber, raiseEvent, waitForRaise, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { XMLRPC_OK, httpResponse, refusedPort, startRawPeer, xmlRpcFault, type RawPeer } from '../support/tcp-peers.js';

const RESPONSE_TIMEOUT_MS = 700;

describe('sync outcomes per subscriber', () => {
  let namespace: string;
  let operator: Operator;
  const peers: Record<string, RawPeer> = {};
  let refused: number;

  before(async () => {
    namespace = await newNamespace('outcomes');
    peers.ok = await startRawPeer(() => XMLRPC_OK);
    peers.error500 = await startRawPeer(() => httpResponse(500, 'overloaded', 'Internal Server Error'));
    peers.fault = await startRawPeer(() => xmlRpcFault(4, 'Too many parameters'));
    peers.silent = await startRawPeer(() => null);
    refused = await refusedPort();
    // No retries: each failure shows on the first attempt (retries.test.ts covers them).
    operator = await startOperator(namespace, ['--sync-mode', '--retry-limit=0', `--response-timeout=${RESPONSE_TIMEOUT_MS}ms`]);
    const sockets: Record<string, string> = {
      ok: `xmlrpc:127.0.0.1:${peers.ok.port}:m`,
      'http-500': `xmlrpc:127.0.0.1:${peers.error500.port}:m`,
      fault: `xmlrpc:127.0.0.1:${peers.fault.port}:m`,
      silent: `xmlrpc:127.0.0.1:${peers.silent.port}:m`,
      refused: `xmlrpc:127.0.0.1:${refused}:m`,
    };
    for (const [name, socket] of Object.entries(sockets)) {
      await createSubscriber(namespace, name, { event: 'E_MIXED', socket });
      await createSubscriber(namespace, `only-${name}`, { event: `E_ONLY_${name.replace('-', '_').toUpperCase()}`, socket });
    }
    await Promise.all(Object.keys(sockets).flatMap((n) => [waitForReady(namespace, n), waitForReady(namespace, `only-${n}`)]));
  });
  after(async () => {
    await operator?.stop();
    for (const peer of Object.values(peers)) await peer.close();
  });

  it('a mix ends PartiallyDelivered with the right entry for each subscriber', async () => {
    const raise = await raiseEvent(namespace, { event: 'E_MIXED', params: [{ name: 'n', int: 1 }] });
    const { status } = await waitForRaise(namespace, raise.metadata.name!);
    assert.equal(status?.phase, 'PartiallyDelivered');
    assert.deepEqual([status?.matched, status?.delivered, status?.failed], [5, 1, 4]);
    const entries = Object.fromEntries((status?.deliveries ?? []).map((d) => [d.subscriber, d]));
    const pick = (d: DeliveryRecord | undefined) => ({
      outcome: d?.outcome,
      httpStatus: d?.httpStatus,
      faultCode: d?.faultCode,
      faultString: d?.faultString,
      error: d?.error,
    });
    assert.deepEqual(pick(entries.ok), { outcome: 'Delivered', httpStatus: 200, faultCode: undefined, faultString: undefined, error: undefined });
    assert.deepEqual(pick(entries['http-500']), {
      outcome: 'Failed',
      httpStatus: 500,
      faultCode: undefined,
      faultString: undefined,
      error: 'HTTP 500 Internal Server Error',
    });
    assert.deepEqual(pick(entries.fault), { outcome: 'Failed', httpStatus: 200, faultCode: 4, faultString: 'Too many parameters', error: undefined });
    assert.deepEqual(pick(entries.silent), {
      outcome: 'Failed',
      httpStatus: undefined,
      faultCode: undefined,
      faultString: undefined,
      error: `no response within ${RESPONSE_TIMEOUT_MS}ms`,
    });
    assert.deepEqual(pick(entries.refused), {
      outcome: 'Failed',
      httpStatus: undefined,
      faultCode: undefined,
      faultString: undefined,
      error: `connection refused by 127.0.0.1:${refused}`,
    });
    assert.ok(entries.silent!.durationMs >= RESPONSE_TIMEOUT_MS);
    // Both deliveries started together: the healthy one ended before the silent one's timeout did.
    assert.ok(
      entries.ok!.durationMs < entries.silent!.durationMs,
      `the silent subscriber did not hold up the healthy one: ok ${entries.ok!.durationMs}ms, silent ${entries.silent!.durationMs}ms`,
    );
  });

  for (const name of ['refused', 'http-500', 'fault', 'silent']) {
    it(`a raise whose only subscriber is ${name} ends Failed`, async () => {
      const raise = await raiseEvent(namespace, { event: `E_ONLY_${name.replace('-', '_').toUpperCase()}` });
      const { status } = await waitForRaise(namespace, raise.metadata.name!);
      assert.equal(status?.phase, 'Failed');
      assert.deepEqual([status?.matched, status?.delivered, status?.failed], [1, 0, 1]);
      assert.equal(status?.deliveries?.[0]?.subscriber, `only-${name}`);
      assert.equal(status?.conditions?.find((c) => c.type === 'Complete')?.reason, 'Failed');
    });
  }

});

describe('async outcomes', () => {
  it('Dispatched once written: neither a silent nor a refused subscriber holds it up', async () => {
    const namespace = await newNamespace('async');
    const silent = await startRawPeer(() => null);
    const refused = await refusedPort();
    const operator = await startOperator(namespace, ['--response-timeout=60s', '--retry-limit=0']);
    try {
      await createSubscriber(namespace, 'silent', { event: 'E_ASYNC', socket: `xmlrpc:127.0.0.1:${silent.port}:m` });
      await createSubscriber(namespace, 'refused', { event: 'E_ASYNC', socket: `xmlrpc:127.0.0.1:${refused}:m` });
      await Promise.all([waitForReady(namespace, 'silent'), waitForReady(namespace, 'refused')]);
      const raise = await raiseEvent(namespace, { event: 'E_ASYNC', syncMode: false });
      const { status } = await waitForRaise(namespace, raise.metadata.name!, 10_000);
      assert.equal(status?.phase, 'Dispatched');
      assert.deepEqual([status?.matched, status?.delivered, status?.failed], [2, 1, 1]);
      assert.equal(silent.requests.length, 1, 'the silent subscriber got the request and is still not answering');
    } finally {
      await operator.stop();
      await silent.close();
    }
  });
});

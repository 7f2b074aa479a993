// A server written to the XML-RPC specification alone, Perl's RPC::XML: it
// decodes struct mode, and answers the plain layout's <name> inside <param>
// with a fault, which the raise's status records as the server sent it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Operator } from '../../src/operator.js';
import { newNamespace } from '../support/cluster.js';
import { createSubscriber, raiseEvent, waitForRaise, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { startPerlPeer, type FaultRecordingPeer } from '../support/xmlrpc-peers.js';

describe('delivery to Perl RPC::XML::Server', () => {
  let namespace: string;
  let operator: Operator;
  let peer: FaultRecordingPeer;

  before(async () => {
    namespace = await newNamespace('strict');
    peer = await startPerlPeer(['block_ip']);
    operator = await startOperator(namespace, ['--sync-mode']);
    await createSubscriber(namespace, 'plain', { event: 'E_PIKE_BLOCKED', socket: `xmlrpc:127.0.0.1:${peer.port}:block_ip` });
    await createSubscriber(namespace, 'struct', {
      event: 'E_PIKE_BLOCKED',
      socket: `xmlrpc:127.0.0.1:${peer.port}:block_ip`,
      useStructParam: true,
    });
    await Promise.all([waitForReady(namespace, 'plain'), waitForReady(namespace, 'struct')]);
  });
  after(async () => {
    await operator?.stop();
    await peer?.close();
  });

  it('struct mode is decoded with its types; plain mode with named params is a fault, recorded in status', async () => {
    const params = [
      { name: 'ip', string: '192.168.2.11' },
      { name: 'count', int: 3 },
      { string: 'unnamed' },
      { name: 'text', string: 'a <b> & ☃' },
    ];
    const raise = await raiseEvent(namespace, { event: 'E_PIKE_BLOCKED', params });
    const done = await waitForRaise(namespace, raise.metadata.name!);

    const [call] = await peer.log.waitFor(1);
    assert.equal(call!.method, 'block_ip');
    assert.deepEqual(call!.params, ['E_PIKE_BLOCKED', { ip: '192.168.2.11' }, { count: 3 }, 'unnamed', { text: 'a <b> & ☃' }]);
    const [fault] = await peer.faults.waitFor(1);
    assert.equal(fault!.faultCode, 100);
    assert.match(fault!.faultString, /^XML parse error: Illegal content in param tag/);
    assert.equal(peer.log.calls.length, 1, 'the plain request was never decoded as a call');

    const status = done.status!;
    assert.equal(status.phase, 'PartiallyDelivered');
    assert.deepEqual([status.matched, status.delivered, status.failed], [2, 1, 1]);
    const bySubscriber = new Map(status.deliveries?.map((d) => [d.subscriber, d]));
    const plain = bySubscriber.get('plain');
    assert.deepEqual(
      [plain?.outcome, plain?.httpStatus, plain?.faultCode, plain?.faultString, plain?.attempts],
      ['Failed', 200, fault!.faultCode, fault!.faultString, 1],
    );
    const struct = bySubscriber.get('struct');
    assert.deepEqual([struct?.outcome, struct?.httpStatus, struct?.faultCode], ['Delivered', 200, undefined]);
  });

  it('plain mode without named params is plain XML-RPC: decoded', async () => {
    const callsBefore = peer.log.calls.length;
    const faultsBefore = peer.faults.calls.length;
    const raise = await raiseEvent(namespace, { event: 'E_PIKE_BLOCKED', params: [{ string: '10.0.0.7' }, { int: -1 }] });
    const done = await waitForRaise(namespace, raise.metadata.name!);
    const calls = (await peer.log.waitFor(callsBefore + 2)).slice(callsBefore);

    assert.deepEqual(
      calls.map((c) => c.params),
      [
        ['E_PIKE_BLOCKED', '10.0.0.7', -1],
        ['E_PIKE_BLOCKED', '10.0.0.7', -1],
      ],
    );
    assert.equal(peer.faults.calls.length, faultsBefore);
    assert.equal(done.status?.phase, 'Delivered');
  });

  it('text that looks like an entity arrives exactly as written', async () => {
    const texts = ['Tom &amp; Jerry', 'price &lt;5', 'x&#60;y', 'x&#x3c;y', 'ctl&#1;x', 'AT&T;', '&x;', ']]>'];
    const callsBefore = peer.log.calls.length;
    await raiseEvent(namespace, { event: 'E_PIKE_BLOCKED', params: texts.map((text) => ({ string: text })) });
    const calls = (await peer.log.waitFor(callsBefore + 2)).slice(callsBefore);
    for (const call of calls) assert.deepEqual(call.params, ['E_PIKE_BLOCKED', ...texts]);
  });
});

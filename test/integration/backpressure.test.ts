// A flood of raises is delivered a bounded number at a time, in order, and
// none is left behind.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newNamespace } from '../support/cluster.js';
import { createSubscriber, listRaises, raiseEvent, TERMINAL, waitFor, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { XMLRPC_OK, startRawPeer } from '../support/tcp-peers.js';

describe('backpressure', () => {
  it('--max-raises-in-flight bounds the raises delivered at once; all of them finish', async () => {
    const namespace = await newNamespace('flood');
    let open = 0;
    let maxOpen = 0;
    const peer = await startRawPeer(
      () => {
        open++;
        maxOpen = Math.max(maxOpen, open);
        setTimeout(() => open--, 150); // the answer goes out after delayMs
        return XMLRPC_OK;
      },
      { delayMs: 150 },
    );
    const operator = await startOperator(namespace, ['--sync-mode', '--max-raises-in-flight=3']);
    try {
      await createSubscriber(namespace, 'slow', { event: 'E_FLOOD', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await waitForReady(namespace, 'slow');
      await Promise.all(Array.from({ length: 12 }, (_, i) => raiseEvent(namespace, { event: 'E_FLOOD', params: [{ int: i }] })));
      const raises = await waitFor(
        () => listRaises(namespace),
        (items) => (items.length === 12 && items.every((r) => TERMINAL.has(r.status?.phase ?? '')) ? items : undefined),
        30_000,
      );
      assert.ok(raises.every((r) => r.status?.phase === 'Delivered'));
      assert.equal(peer.requests.length, 12);
      assert.ok(maxOpen <= 3, `${maxOpen} raises were delivered at once`);
      assert.ok(maxOpen >= 2, 'more than one at a time: the bound is a limit, not serial delivery');
    } finally {
      await operator.stop();
      await peer.close();
    }
  });
});

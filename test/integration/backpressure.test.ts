// A flood of raises is delivered a bounded number at a time, in order, and
// none is left behind.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { newNamespace } from '../support/cluster.js';
import { createSubscriber, listRaises, raiseEvent, TERMINAL, waitFor, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { XMLRPC_OK } from '../support/tcp-peers.js';

const CAP = 3;
const RAISES = 4 * CAP;
/** Held requests are answered anyway this long after the first: only an operator below the cap waits for it. */
const FALLBACK_MS = 5_000;

/**
 * A peer that holds every request until CAP of them are open at once, then
 * answers them all: an operator that delivers CAP raises at a time keeps it
 * busy in batches of CAP, whatever the machine's speed; one that delivers
 * fewer at once waits for FALLBACK_MS and shows it in `maxOpen`.
 */
async function batchingPeer() {
  const held: http.ServerResponse[] = [];
  let open = 0;
  let maxOpen = 0;
  let requests = 0;
  let fallback: NodeJS.Timeout | undefined;
  const body = XMLRPC_OK.slice(XMLRPC_OK.indexOf('\r\n\r\n') + 4);
  const release = () => {
    clearTimeout(fallback);
    fallback = undefined;
    for (const res of held.splice(0)) res.end(body);
  };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      open++;
      maxOpen = Math.max(maxOpen, open);
      res.on('finish', () => open--);
      held.push(res);
      if (held.length >= CAP) release();
      else fallback ??= setTimeout(release, FALLBACK_MS);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests: () => requests,
    maxOpen: () => maxOpen,
    close: () =>
      new Promise<void>((resolve) => {
        release();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('backpressure', () => {
  it('--max-raises-in-flight bounds the raises delivered at once; all of them finish', async () => {
    const namespace = await newNamespace('flood');
    const peer = await batchingPeer();
    const operator = await startOperator(namespace, ['--sync-mode', `--max-raises-in-flight=${CAP}`]);
    try {
      await createSubscriber(namespace, 'slow', { event: 'E_FLOOD', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await waitForReady(namespace, 'slow');
      await Promise.all(Array.from({ length: RAISES }, (_, i) => raiseEvent(namespace, { event: 'E_FLOOD', params: [{ int: i }] })));
      const raises = await waitFor(
        () => listRaises(namespace),
        (items) => (items.length === RAISES && items.every((r) => TERMINAL.has(r.status?.phase ?? '')) ? items : undefined),
        // Room for an operator below the cap to finish through the fallbacks, so that the count below says so.
        (RAISES / 2) * FALLBACK_MS + 30_000,
      );
      assert.ok(raises.every((r) => r.status?.phase === 'Delivered'));
      assert.equal(peer.requests(), RAISES);
      // A count, not a race: CAP at once, never more, and not one at a time.
      assert.equal(peer.maxOpen(), CAP, `at most ${CAP} raises delivered at once, and that many`);
    } finally {
      await operator.stop();
      await peer.close();
    }
  });
});

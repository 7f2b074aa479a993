// Namespaces share the operator fairly: one that floods a subscriber that
// never answers does not hold up another namespace, and namespaces that
// flood healthy subscribers get equal shares. Latencies are taken from the
// peers' own arrival stamps against the creation time, and compared with a
// baseline measured in the same test.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newNamespace } from '../support/cluster.js';
import { createSubscriber, listRaises, raiseEvent, raiseNamed, TERMINAL, waitFor, waitForRaise, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { paramOf } from '../support/raise-names.js';
import { XMLRPC_OK, startCountingBlackhole, startRawPeer, startStampingPeer } from '../support/tcp-peers.js';

/** Slack on top of twice the baseline, for a loaded machine. */
const SLACK_MS = 500;
/** Latency probes alone and beside the flood. */
const PROBES = 5;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;


/** Creation to arrival at the peer of one async raise, which must then become terminal. */
async function probeLatency(namespace: string, healthy: { arrivals: Map<string, number> }, name: string): Promise<number> {
  const created = Date.now();
  await raiseNamed(namespace, name, { event: 'E_PROBE', syncMode: false });
  const raise = await waitForRaise(namespace, name, 60_000);
  assert.equal(raise.status?.phase, 'Dispatched');
  const arrived = healthy.arrivals.get(name);
  assert.ok(arrived !== undefined, `${name} reached the healthy peer`);
  return arrived - created;
}

describe('fair shares between namespaces', () => {
  it('a namespace flooding a never-answering subscriber does not delay another namespace', async () => {
    const [flooder, victim] = await Promise.all([newNamespace('flooder'), newNamespace('victim')]);
    const hole = await startCountingBlackhole();
    const healthy = await startStampingPeer();
    const operator = await startOperator([flooder, victim], ['--max-raises-in-flight=16', '--max-per-subscriber=4', '--shutdown-grace=1s']);
    try {
      await createSubscriber(flooder, 'stuck', {
        event: 'E_FLOOD',
        socket: `xmlrpc:127.0.0.1:${hole.port}:m`,
        delivery: { timeoutSeconds: 60, retry: { limit: 0 } },
      });
      await createSubscriber(victim, 'healthy', { event: 'E_PROBE', socket: `xmlrpc:127.0.0.1:${healthy.peer.port}:m` });
      await Promise.all([waitForReady(flooder, 'stuck'), waitForReady(victim, 'healthy')]);

      const alone = [];
      for (let i = 0; i < PROBES; i++) alone.push(await probeLatency(victim, healthy, `alone-${i}`));

      // Far more sync raises than --max-raises-in-flight, all to the black hole.
      for (let batch = 0; batch < 4; batch++) {
        await Promise.all(Array.from({ length: 25 }, () => raiseEvent(flooder, { event: 'E_FLOOD', syncMode: true })));
      }
      await waitFor(async () => hole.accepted(), (n) => (n >= 4 ? n : undefined));

      const beside = [];
      for (let i = 0; i < PROBES; i++) beside.push(await probeLatency(victim, healthy, `flooded-${i}`));
      // Medians: one probe that meets a busy moment of the machine does not decide.
      assert.ok(median(beside) <= 2 * median(alone) + SLACK_MS, `alone ${alone.join('/')} ms, beside the flood ${beside.join('/')} ms`);
      assert.equal(hole.accepted(), 4, 'the stuck subscriber holds --max-per-subscriber sockets, no more');
      // And an order: every probe got through while the whole flood still waited on the black hole, which
      // holds each request for 60 s; a probe that waited for a slot of the flood could only come after.
      const flood = await listRaises(flooder);
      assert.ok(flood.every((r) => !TERMINAL.has(r.status?.phase ?? '')), 'the flood is still waiting on the black hole');
    } finally {
      await operator.stop();
      await hole.close();
      await healthy.peer.close();
    }
  });

  it('namespaces flooding healthy subscribers get equal shares', async () => {
    const namespaces = await Promise.all(['share-a', 'share-b', 'share-c'].map((p) => newNamespace(p)));
    // Each answer takes a while, so that the raises compete for the running slots.
    const arrivals: Array<{ namespace: string; at: number }> = [];
    const peer = await startRawPeer(
      (request) => {
        const ns = paramOf(request.body, 'ns');
        if (ns) arrivals.push({ namespace: ns, at: Date.now() });
        return XMLRPC_OK;
      },
      { delayMs: 40 },
    );
    const perNamespace = 60;
    const operator = await startOperator(namespaces, ['--max-raises-in-flight=4', '--max-raises-in-flight-per-namespace=4']);
    try {
      for (const ns of namespaces) await createSubscriber(ns, 'sink', { event: 'E_SHARE', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await Promise.all(namespaces.map((ns) => waitForReady(ns, 'sink')));
      // The first namespace's raises are all created before the others': order alone would serve it first.
      for (const ns of namespaces) {
        await Promise.all(Array.from({ length: perNamespace }, () => raiseEvent(ns, { event: 'E_SHARE', params: [{ name: 'ns', string: ns }], syncMode: true })));
      }
      await waitFor(
        async () => arrivals.length,
        (n) => (n >= perNamespace * namespaces.length ? n : undefined),
        120_000,
      );
      // When the first namespace is done, each other one has had at least half as many deliveries.
      const sorted = [...arrivals].sort((a, b) => a.at - b.at);
      const done = new Map<string, number>();
      let firstDoneAt = Infinity;
      for (const [i, a] of sorted.entries()) {
        done.set(a.namespace, (done.get(a.namespace) ?? 0) + 1);
        if (done.get(a.namespace) === perNamespace) {
          firstDoneAt = i;
          break;
        }
      }
      const counts = namespaces.map((ns) => sorted.slice(0, firstDoneAt + 1).filter((a) => a.namespace === ns).length);
      assert.ok(Math.min(...counts) * 2 >= Math.max(...counts), `deliveries per namespace when the first finished: ${counts.join(', ')}`);
    } finally {
      await operator.stop();
      await peer.close();
    }
  });
});

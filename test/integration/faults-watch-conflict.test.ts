// Faults between the operator and a kube-apiserver that keeps running: a
// watch connection gone silent (frozen by a TCP proxy), and status writes that
// lose the race against another client (409 Conflict).
import assert from 'node:assert/strict';
import { writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { LogMessage } from '../../src/log-messages.js';
import { GROUP, VERSION, type EventRaise } from '../../src/api/types.js';
import { kubeconfigYaml } from '../controlplane/control-plane.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { createSubscriber, getObject, raiseNamed, waitFor, waitForRaise, waitForReady } from '../support/objects.js';
import { loggedEntries, spawnOperator, type OperatorProcess } from '../support/operator.js';
import { countByRaise, raiseNameOf } from '../support/raise-names.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { XMLRPC_OK, startRawPeer } from '../support/tcp-peers.js';

const raiseSync = (namespace: string, event: string, name: string) => raiseNamed(namespace, name, { event, syncMode: true });

describe('kube-apiserver faults with the apiserver up', () => {
  it('a silent watch (connection frozen by a proxy) is dropped and made again within the silence timeout', async (t) => {
    const SILENCE_MS = 3_000;
    /** Generous, and far below the default silence timeout (150 s) that applies if the setting is ignored. */
    const WAIT_MS = 5 * SILENCE_MS;
    const { info } = testCluster();
    const apiServer = new URL(info.server);
    const proxy = await startTcpProxy({ host: apiServer.hostname, port: Number(apiServer.port) }, apiServer.hostname);
    const arrivedAt = new Map<string, number>();
    const peer = await startRawPeer((request) => {
      const name = raiseNameOf(request.body);
      if (name && !arrivedAt.has(name)) arrivedAt.set(name, Date.now());
      return XMLRPC_OK;
    });
    const namespace = await newNamespace('faults-silent-watch');
    let operator: OperatorProcess | undefined;
    try {
      // The apiserver's certificate is valid for its own address: the proxy listens there too.
      const kubeconfig = path.join(await mkdtemp(path.join(os.tmpdir(), 'event-xmlrpc-proxy-')), 'kubeconfig');
      await writeFile(
        kubeconfig,
        kubeconfigYaml({ server: `https://${apiServer.hostname}:${proxy.port}`, caFile: info.caFile }, { name: 'event-xmlrpc-operator', token: info.operatorToken }),
        { mode: 0o600 },
      );
      operator = await spawnOperator(['--namespace', namespace, '--sync-mode'], {
        KUBECONFIG: kubeconfig,
        EVENT_XMLRPC_WATCH_SILENCE_TIMEOUT: `${SILENCE_MS}ms`,
      });
      await operator.started;
      await createSubscriber(namespace, 'sub', { event: 'E_SILENT', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await waitForReady(namespace, 'sub');
      await raiseSync(namespace, 'E_SILENT', 'before');
      assert.equal((await waitForRaise(namespace, 'before', 10_000)).status?.phase, 'Delivered', 'delivered through the proxy');

      const acceptedBefore = proxy.accepted;
      const frozen = proxy.freeze();
      const frozenAt = Date.now();
      assert.equal(frozen, 1, `the operator's watches (Subscribers, EventRaises) and calls share one connection: ${frozen} frozen`);
      await raiseSync(namespace, 'E_SILENT', 'after');
      const raise = await waitForRaise(namespace, 'after', WAIT_MS);
      const tookMs = Date.now() - frozenAt;
      // Nothing leaks: the silent watch made the operator probe its connection, and drop it unanswered.
      await waitFor(async () => proxy.frozenClosedByClient, (n) => (n === frozen ? n : undefined), 20_000);
      const allClosedMs = Date.now() - frozenAt;

      assert.equal(raise.status?.phase, 'Delivered');
      assert.equal(countByRaise(peer.requests).get('after'), 1);
      assert.ok(proxy.accepted > acceptedBefore, 'the operator connected again');
      // An order of the proxy's and the peer's stamps: the raise created after the freeze reached the peer no
      // sooner than the silence timeout after the frozen connections last carried a byte to the operator
      // (the EventRaise watch was one of them), so it came through a watch made again once the old one was
      // silent that long. 100 ms less for a timer that fires early (its start is the event loop's cached time).
      const frozenConnections = proxy.connections.filter((c) => c.frozenAt !== undefined);
      const silentSince = Math.min(...frozenConnections.map((c) => c.lastToClientAt ?? c.acceptedAt));
      const arrived = arrivedAt.get('after')!;
      assert.ok(
        arrived - silentSince >= SILENCE_MS - 100,
        `the raise reached the peer ${arrived - silentSince} ms after the frozen connections' last byte (silence timeout ${SILENCE_MS} ms)`,
      );
      t.diagnostic(
        `${frozen} connections frozen; the raise created after the freeze reached the peer ${arrived - frozenAt} ms after it ` +
          `(${arrived - silentSince} ms after the frozen connections' last byte; silence timeout ${SILENCE_MS} ms) and was terminal ${tookMs} ms after it; ` +
          `all frozen ones closed by the operator ${allClosedMs} ms after the freeze; ${proxy.accepted - acceptedBefore} new connections since the freeze`,
      );
    } finally {
      await operator?.kill();
      await peer.close();
      await proxy.close();
    }
  });

  it('status writes that hit 409 Conflict (another client keeps changing labels) are retried: written once, complete, delivered once', async (t) => {
    const namespace = await newNamespace('faults-conflict');
    const fast = await startRawPeer(() => XMLRPC_OK);
    const slow = await startRawPeer(() => XMLRPC_OK, { delayMs: 1_500 });
    let operator: OperatorProcess | undefined;
    try {
      // Debug logging: the controller logs each conflict there, with the apiserver's message.
      operator = await spawnOperator(['--namespace', namespace, '--sync-mode', '--log-level=debug']);
      await operator.started;
      const httpPort = loggedEntries(operator, LogMessage.operatorStarted)[0]?.httpPort;
      await createSubscriber(namespace, 'fast', { event: 'E_CONFLICT', socket: `xmlrpc:127.0.0.1:${fast.port}:m` });
      await createSubscriber(namespace, 'slow', { event: 'E_CONFLICT', socket: `xmlrpc:127.0.0.1:${slow.port}:m` });
      await Promise.all([waitForReady(namespace, 'fast'), waitForReady(namespace, 'slow')]);

      const conflicts = () =>
        loggedEntries(operator!, LogMessage.reconcileFailed).filter(
          (e) => e.controller === 'eventraise' && e.name === 'contested' && String(e.error).includes('the object has been modified'),
        ).length;
      const objects = KubernetesObjectApi.makeApiClient(testCluster().admin);
      const created = await raiseSync(namespace, 'E_CONFLICT', 'contested');
      let bumps = 0;
      let stop = false;
      // Back to back while the slow delivery runs, so that the operator's writes (progress after 1 s, then
      // the terminal one) find a newer resourceVersion; once one did, every 50 ms, so that a retry can win.
      const updater = (async () => {
        while (!stop) {
          await objects.patch(
            { apiVersion: `${GROUP}/${VERSION}`, kind: 'EventRaise', metadata: { namespace, name: 'contested', labels: { bump: String(bumps + 1) } } },
            undefined,
            undefined,
            'faults-test',
            undefined,
            PatchStrategy.MergePatch,
          );
          bumps++;
          if (conflicts() > 0) await sleep(50);
        }
      })();
      let final: EventRaise;
      try {
        final = await waitForRaise(namespace, 'contested', 30_000);
      } finally {
        stop = true;
        await updater;
      }
      const after = await getObject<EventRaise>(namespace, 'eventraises', 'contested');

      assert.ok(conflicts() >= 1, 'at least one status write of the raise hit 409 Conflict');
      assert.equal(final.status?.phase, 'Delivered', JSON.stringify(final.status));
      assert.deepEqual([final.status?.matched, final.status?.delivered, final.status?.failed], [2, 2, 0]);
      assert.deepEqual(
        (final.status?.deliveries ?? []).map((d) => [d.subscriber, d.outcome, d.attempts]).sort(),
        [['fast', 'Delivered', 1], ['slow', 'Delivered', 1]],
      );
      assert.equal(final.status?.conditions?.find((c) => c.type === 'Complete')?.status, 'True');
      assert.equal(countByRaise(fast.requests).get('contested'), 1, 'delivered once to fast');
      assert.equal(countByRaise(slow.requests).get('contested'), 1, 'delivered once to slow');
      assert.equal(after.metadata.labels?.bump, String(bumps), "the operator's status writes left the other client's labels alone");
      const metrics = httpPort ? await (await fetch(`http://127.0.0.1:${String(httpPort)}/metrics`)).text() : '';
      const errorsMetric = /^event_xmlrpc_reconcile_errors_total\{kind="eventraise"\} (\d+)/m.exec(metrics)?.[1];
      t.diagnostic(
        `${bumps} label updates by another client during the delivery; ${conflicts()} status writes hit 409 ` +
          `(event_xmlrpc_reconcile_errors_total{kind="eventraise"} ${errorsMetric ?? '?'}); ` +
          `resourceVersion ${created.metadata.resourceVersion} at create, ${after.metadata.resourceVersion} at the end`,
      );
    } finally {
      await operator?.kill();
      await fast.close();
      await slow.close();
    }
  });
});

// The kube-apiserver process stopped and started again under the operator
// (faults-watch-conflict.test.ts has the faults that leave it running).
//
// test/run.ts runs this file after every other one, alone on the control
// plane, and gives it EVENT_XMLRPC_TEST_CONTROL to stop and start the
// kube-apiserver (see its header comment).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { LogMessage } from '../../src/log-messages.js';
import { newNamespace } from '../support/cluster.js';
import { createSubscriber, listRaises, raiseNamed, TERMINAL, waitFor, waitForReady } from '../support/objects.js';
import { loggedEntries, spawnOperator, type OperatorProcess } from '../support/operator.js';
import { countByRaise } from '../support/raise-names.js';
import { XMLRPC_OK, startRawPeer } from '../support/tcp-peers.js';

const CONTROL_ENV = 'EVENT_XMLRPC_TEST_CONTROL';

/** Asks the test runner to stop or start the one kube-apiserver of the run. */
async function apiserver(action: 'stop' | 'start'): Promise<void> {
  const base = process.env[CONTROL_ENV];
  if (!base) throw new Error(`${CONTROL_ENV} is not set: run this file through test/run.ts, which runs it alone after the others`);
  const res = await fetch(`${base}/apiserver/${action}`, { method: 'POST' });
  if (res.status !== 204) throw new Error(`apiserver ${action}: HTTP ${res.status} ${await res.text()}`);
}

const raiseSync = (namespace: string, event: string, name: string) => raiseNamed(namespace, name, { event, syncMode: true });

describe('kube-apiserver faults', () => {
  it('kube-apiserver stopped and started again mid-stream: no raise is lost', async (t) => {
    const BEFORE = 12; // below --max-per-subscriber's 16: all of them in flight at the slow subscriber at once
    const AFTER = 12;
    const OUTAGE_MS = 3_000;
    const namespace = await newNamespace('faults-apiserver');
    const fast = await startRawPeer(() => XMLRPC_OK);
    const slow = await startRawPeer(() => XMLRPC_OK, { delayMs: 1_500 });
    let operator: OperatorProcess | undefined;
    try {
      operator = await spawnOperator(['--namespace', namespace, '--sync-mode']);
      await operator.started;
      await createSubscriber(namespace, 'fast', { event: 'E_OUTAGE', socket: `xmlrpc:127.0.0.1:${fast.port}:m` });
      await createSubscriber(namespace, 'slow', { event: 'E_OUTAGE', socket: `xmlrpc:127.0.0.1:${slow.port}:m` });
      await Promise.all([waitForReady(namespace, 'fast'), waitForReady(namespace, 'slow')]);

      const names = Array.from({ length: BEFORE + AFTER }, (_, i) => `r-${String(i).padStart(2, '0')}`);
      for (const name of names.slice(0, BEFORE)) await raiseSync(namespace, 'E_OUTAGE', name);
      // Every raise so far is at the slow subscriber, unanswered: in flight when the apiserver goes.
      await slow.waitFor(BEFORE, 10_000);
      const inFlight = (await listRaises(namespace)).filter((r) => !TERMINAL.has(r.status?.phase ?? '')).length;

      // The apiserver closes its port at once; it ends the open watches only when it exits (SIGKILL after 5 s).
      const down = Date.now();
      await apiserver('stop');
      const stopTook = Date.now() - down;
      try {
        // The operator notices (its watches fail and back off); the slow subscriber answers meanwhile.
        await waitFor(async () => loggedEntries(operator!, LogMessage.listWatchFailed).length, (n) => (n > 0 ? n : undefined), 10_000);
        const left = OUTAGE_MS - (Date.now() - down);
        if (left > 0) await sleep(left); // the outage itself: a fault of fixed length
        assert.equal(operator.child.exitCode, null, 'the operator is still running with the apiserver gone');
      } finally {
        await apiserver('start');
      }
      const up = Date.now();

      for (const name of names.slice(BEFORE)) await raiseSync(namespace, 'E_OUTAGE', name);
      const final = await waitFor(
        () => listRaises(namespace),
        (raises) => (raises.length === names.length && raises.every((r) => TERMINAL.has(r.status?.phase ?? '')) ? raises : undefined),
        60_000,
      );
      const settled = Date.now();

      assert.equal(inFlight, BEFORE, 'every raise created before the stop was in flight when it stopped');
      for (const raise of final) {
        const { status } = raise;
        assert.equal(status?.phase, 'Delivered', `${raise.metadata.name}: ${JSON.stringify(status)}`);
        assert.deepEqual(
          (status?.deliveries ?? []).map((d) => [d.subscriber, d.outcome, d.httpStatus]).sort(),
          [['fast', 'Delivered', 200], ['slow', 'Delivered', 200]],
          `${raise.metadata.name}: one result per subscriber`,
        );
      }
      const counts = [countByRaise(fast.requests), countByRaise(slow.requests)];
      for (const name of names) {
        for (const [i, peer] of ['fast', 'slow'].entries()) assert.ok((counts[i]!.get(name) ?? 0) >= 1, `${name} reached ${peer}`);
      }
      const duplicates = counts.flatMap((c) => [...c.values()]).reduce((sum, n) => sum + n - 1, 0);
      const watchFailures = loggedEntries(operator, LogMessage.listWatchFailed).length;
      const reconcileFailures = loggedEntries(operator, LogMessage.reconcileFailed).length;
      t.diagnostic(
        `apiserver down ${((up - down) / 1000).toFixed(1)} s (stop ${(stopTook / 1000).toFixed(1)} s, start included) with ${inFlight} raises in flight; ` +
          `all ${names.length} terminal ${((settled - up) / 1000).toFixed(1)} s after it was back; ` +
          `${watchFailures} list/watch retries, ${reconcileFailures} reconcile retries logged; ${duplicates} duplicate deliveries`,
      );
      assert.ok(reconcileFailures > 0, 'status writes of the raises in flight failed during the outage, and were retried');
      assert.equal(duplicates, 0, 'one operator process, no restart: nothing delivered twice');
    } finally {
      await operator?.kill();
      await fast.close();
      await slow.close();
    }
  });
});

// What whoever runs the operator sees: /metrics after a scenario, the probes,
// and Kubernetes Events aggregated rather than one per failure.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoreV1Api, EventsV1Api } from '@kubernetes/client-node';
import winston from 'winston';
import { parseCommandLine } from '../../src/config.js';
import { Operator } from '../../src/operator.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { createSubscriber, raiseEvent, waitFor, waitForRaise, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { XMLRPC_OK, refusedPort, startRawPeer } from '../support/tcp-peers.js';

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** The value of one sample line of the Prometheus text format, or undefined. */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of metrics.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[3]);
  }
  return undefined;
}

describe('observability', () => {
  it('/metrics counts deliveries, raises and reconciles after a scenario; Events are aggregated', async () => {
    const namespace = await newNamespace('metrics');
    const peer = await startRawPeer(() => XMLRPC_OK);
    const refused = await refusedPort();
    const operator = await startOperator(namespace, ['--sync-mode', '--retry-limit=0']);
    let stopped = false;
    try {
      await createSubscriber(namespace, 'ok', { event: 'E_M', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await createSubscriber(namespace, 'down', { event: 'E_M', socket: `xmlrpc:127.0.0.1:${refused}:m` });
      await Promise.all([waitForReady(namespace, 'ok'), waitForReady(namespace, 'down')]);
      for (let i = 0; i < 3; i++) {
        const raise = await raiseEvent(namespace, { event: 'E_M' });
        assert.equal((await waitForRaise(namespace, raise.metadata.name!)).status?.phase, 'PartiallyDelivered');
      }
      const nobody = await raiseEvent(namespace, { event: 'E_NOBODY' });
      await waitForRaise(namespace, nobody.metadata.name!);

      const { status, body } = await get(operator.httpPort, '/metrics');
      assert.equal(status, 200);
      assert.equal(sample(body, 'event_xmlrpc_deliveries_total', { outcome: 'delivered', namespace }), 3);
      assert.equal(sample(body, 'event_xmlrpc_deliveries_total', { outcome: 'failed', namespace }), 3);
      assert.equal(sample(body, 'event_xmlrpc_delivery_duration_seconds_count', { outcome: 'delivered' }), 3);
      assert.equal(sample(body, 'event_xmlrpc_delivery_duration_seconds_count', { outcome: 'failed' }), 3);
      assert.equal(sample(body, 'event_xmlrpc_raises_total', { phase: 'PartiallyDelivered' }), 3);
      assert.equal(sample(body, 'event_xmlrpc_raises_total', { phase: 'NoSubscribers' }), 1);
      assert.ok((sample(body, 'event_xmlrpc_reconciles_total', { kind: 'eventraise' }) ?? 0) >= 4);
      assert.ok((sample(body, 'event_xmlrpc_reconciles_total', { kind: 'subscriber' }) ?? 0) >= 2);
      assert.equal(sample(body, 'event_xmlrpc_reconcile_errors_total', { kind: 'eventraise' }) ?? 0, 0);
      assert.equal(sample(body, 'event_xmlrpc_workqueue_depth', { kind: 'eventraise' }), 0);
      assert.ok(sample(body, 'process_cpu_user_seconds_total') !== undefined, 'process metrics are exported');
      assert.deepEqual([(await get(operator.httpPort, '/healthz')).status, (await get(operator.httpPort, '/readyz')).status], [200, 200]);

      // Three failures, one Event: its series carries the count once the operator flushes it.
      await operator.stop();
      stopped = true;
      const events = await testCluster().admin.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace });
      const failures = events.items.filter((e) => e.reason === 'DeliveryFailed');
      assert.equal(failures.length, 1, JSON.stringify(failures));
      const [event] = failures;
      assert.equal(event!.type, 'Warning');
      assert.deepEqual([event!.regarding?.kind, event!.regarding?.name], ['Subscriber', 'down']);
      assert.match(event!.note ?? '', new RegExp(`E_M from EventRaise .* to http://127\\.0\\.0\\.1:${refused}/RPC2: connection refused`));
      assert.equal(event!.series?.count, 3);
    } finally {
      if (!stopped) await operator.stop();
      await peer.close();
    }
  });

  it('a Subscriber with a 250-character name gets its DeliveryFailed Event', async () => {
    const namespace = await newNamespace('events');
    const refused = await refusedPort();
    const operator = await startOperator(namespace, ['--sync-mode', '--retry-limit=0']);
    const name = `${'n'.repeat(120)}.${'m'.repeat(129)}`;
    assert.equal(name.length, 250);
    try {
      await createSubscriber(namespace, name, { event: 'E_LONG', socket: `xmlrpc:127.0.0.1:${refused}:m` });
      await waitForReady(namespace, name);
      const raise = await raiseEvent(namespace, { event: 'E_LONG' });
      assert.equal((await waitForRaise(namespace, raise.metadata.name!)).status?.phase, 'Failed');
      const api = testCluster().admin.makeApiClient(EventsV1Api);
      const event = await waitFor(
        () => api.listNamespacedEvent({ namespace }),
        (list) => list.items.find((e) => e.reason === 'DeliveryFailed'),
      );
      assert.deepEqual([event.regarding?.kind, event.regarding?.name], ['Subscriber', name]);
      assert.ok(event.metadata?.name?.startsWith('n'.repeat(120)), event.metadata?.name);
      assert.match(event.note ?? '', /connection refused/);
    } finally {
      await operator.stop();
    }
  });

  it('a Subscriber whose host does not resolve gets a Warning Event', async () => {
    const namespace = await newNamespace('events');
    const operator = await startOperator(namespace);
    try {
      await createSubscriber(namespace, 'gone', { event: 'E', socket: 'xmlrpc:no-such-host.invalid:80:m' });
      await waitForReady(namespace, 'gone', 'False');
      const api = testCluster().admin.makeApiClient(EventsV1Api);
      const event = await waitFor(
        () => api.listNamespacedEvent({ namespace }),
        (list) => list.items.find((e) => e.reason === 'HostNotFound'),
      );
      assert.equal(event.regarding?.name, 'gone');
      assert.match(event.note ?? '', /no-such-host\.invalid does not resolve/);
    } finally {
      await operator.stop();
    }
  });

  it('/readyz stays 503 while the caches cannot sync; /healthz answers 200', async () => {
    // A ServiceAccount RBAC grants nothing: discovery works, the list is forbidden.
    const namespace = await newNamespace('unready');
    const core = testCluster().admin.makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'nobody' } } });
    const { status } = await core.createNamespacedServiceAccountToken({ namespace, name: 'nobody', body: { spec: { audiences: [] } } });
    const parsed = parseCommandLine(['--http-port=0', '--relay-port=0'], {}, 'test');
    assert.equal(parsed.kind, 'run');
    if (parsed.kind !== 'run') return;
    const log = winston.createLogger({ level: 'error', silent: true, transports: [new winston.transports.Console()] });
    const operator = new Operator({ kubeConfig: testCluster().kubeConfigForToken(status!.token!), config: parsed.config, log });
    const starting = operator.start().catch((err: unknown) => err);
    try {
      const port = await waitFor(async () => operator.httpPort, (p) => (p > 0 ? p : undefined));
      assert.equal((await get(port, '/healthz')).status, 200);
      const ready = await get(port, '/readyz');
      assert.equal(ready.status, 503);
    } finally {
      await operator.stop();
      await starting;
    }
  });
});

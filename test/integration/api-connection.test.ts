// The operator's connection to the kube-apiserver, counted at a TCP proxy in
// front of it: every API call and watch shares one connection; credentials
// that expire are asked for again without a new connection; a connection
// that stops answering is replaced.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { AuthenticationV1Api, CoordinationV1Api, CustomObjectsApi, EventsV1Api, KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { GROUP, VERSION, type EventRaise } from '../../src/api/types.js';
import { SharedConnectionConfig } from '../../src/kube/api-connection.js';
import { errorText, statusCode } from '../../src/kube/errors.js';
import { makeKubeConfig } from '../controlplane/control-plane.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { createSubscriber, listRaises, raiseEvent, TERMINAL, waitFor, waitForReady } from '../support/objects.js';
import { grantLeaseRbac, grantOperatorRbac, startOperator } from '../support/operator.js';
import { XMLRPC_OK, refusedPort, startRawPeer } from '../support/tcp-peers.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const apiServer = () => new URL(testCluster().info.server);

/** A proxy on the apiserver's own address, where its certificate is valid. */
async function proxyToApiserver(): Promise<TcpProxy> {
  return startTcpProxy({ host: apiServer().hostname, port: Number(apiServer().port) }, apiServer().hostname);
}

const viaProxy = (proxy: TcpProxy) => `https://${apiServer().hostname}:${proxy.port}`;

/** The operator user's kubeconfig, through the proxy. */
function operatorConfigVia(proxy: TcpProxy): KubeConfig {
  const { info } = testCluster();
  return makeKubeConfig({ server: viaProxy(proxy), caFile: info.caFile }, { name: 'event-xmlrpc-operator', token: info.operatorToken });
}

const listRaisesWith = (kc: KubeConfig, namespace: string) =>
  kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'eventraises' });

describe('connection to the kube-apiserver', () => {
  it('carries every list, watch, status write, delete, Event and Lease call of the operator on one connection', async (t) => {
    const namespace = await newNamespace('api-connection');
    await grantLeaseRbac(namespace);
    const proxy = await proxyToApiserver();
    const peer = await startRawPeer(() => XMLRPC_OK);
    const operator = await startOperator(
      namespace,
      ['--sync-mode', '--retry-limit=0', '--leader-elect', `--leader-election-namespace=${namespace}`, '--retry-period=500ms', '--renew-deadline=2s', '--lease-duration=3s'],
      { kubeConfig: operatorConfigVia(proxy) },
    );
    try {
      await waitFor(async () => operator.isLeader, (leading) => (leading ? true : undefined), 10_000);
      await createSubscriber(namespace, 'ok', { event: 'E_CONN', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
      await createSubscriber(namespace, 'refused', { event: 'E_CONN', socket: `xmlrpc:127.0.0.1:${await refusedPort()}:m` });
      await Promise.all([waitForReady(namespace, 'ok'), waitForReady(namespace, 'refused')]);

      // Twenty raises at once, so that status writes overlap; one with a ttl, so that it is deleted.
      const RAISES = 20;
      await Promise.all(Array.from({ length: RAISES }, (_, i) => raiseEvent(namespace, { event: 'E_CONN', params: [{ int: i }] }, `r-${i}`)));
      await raiseEvent(namespace, { event: 'E_CONN', ttlSecondsAfterFinished: 0 }, 'short-lived');
      const raises = await waitFor(
        () => listRaises(namespace),
        (all) => (all.length === RAISES && all.every((r) => TERMINAL.has(r.status?.phase ?? '')) ? all : undefined),
      );
      const renewed = await waitFor(
        () => testCluster().admin.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name: 'event-xmlrpc-operator' }),
        (lease: V1Lease) => (lease.spec?.holderIdentity === operator.identity && (lease.spec?.leaseTransitions ?? 0) === 0 ? lease : undefined),
      );
      const events = await waitFor(
        () => testCluster().admin.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace }),
        (list) => (list.items.some((e) => e.reason === 'DeliveryFailed') ? list.items : undefined),
      );

      assert.ok(raises.every((r: EventRaise) => r.status?.phase === 'PartiallyDelivered'), 'every raise reached one subscriber and failed at the other');
      assert.ok(!raises.some((r) => r.metadata.name === 'short-lived'), 'the raise past its ttl was deleted');
      assert.ok(renewed.spec?.renewTime, 'the Lease is held and renewed');
      assert.ok(events.length > 0, 'a DeliveryFailed Event was written');
      assert.equal(proxy.accepted, 1, `connections the operator opened to the apiserver: ${proxy.accepted}`);
      assert.equal(proxy.open, 1, 'and it is still open');
      t.diagnostic(`${RAISES + 1} raises, 2 subscribers, leader election and Events over ${proxy.accepted} connection`);
    } finally {
      await operator.stop();
      await peer.close();
      await proxy.close();
    }
  });

  it('asks an exec plugin for a new token once the old one expired, on the same connection', async () => {
    const { info } = testCluster();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'event-xmlrpc-exec-'));
    const tokenFile = path.join(dir, 'token');
    const plugin = path.join(dir, 'plugin.mjs');
    // Hands out whatever the file holds, valid for half a second.
    await writeFile(
      plugin,
      `import { readFileSync } from 'node:fs';
process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential',
  status: { token: readFileSync(${JSON.stringify(tokenFile)}, 'utf8'), expirationTimestamp: new Date(Date.now() + 500).toISOString() } }));
`,
    );
    await writeFile(tokenFile, info.operatorToken);
    const proxy = await proxyToApiserver();
    const source = new KubeConfig();
    source.loadFromOptions({
      clusters: [{ name: 'c', server: viaProxy(proxy), caFile: info.caFile, skipTLSVerify: false }],
      users: [{ name: 'u', exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin] } }],
      contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
      currentContext: 'ctx',
    });
    const shared = new SharedConnectionConfig(source);
    const reviews = shared.makeApiClient(AuthenticationV1Api);
    const whoAmI = async () => (await reviews.createSelfSubjectReview({ body: {} })).status?.userInfo?.username;
    const afterExpiry = () => new Promise((resolve) => setTimeout(resolve, 600));
    try {
      const first = await whoAmI();
      await writeFile(tokenFile, info.adminToken);
      const beforeExpiry = await whoAmI();
      await afterExpiry();
      const second = await whoAmI();

      assert.deepEqual([first, beforeExpiry, second], ['event-xmlrpc-operator', 'event-xmlrpc-operator', 'admin'], 'the credential is cached until it expires, then asked for again');
      // (A 401 would not do here: the apiserver closes an HTTP/2 connection after answering one.)
      assert.equal(proxy.accepted, 1, 'all three calls on one connection');
    } finally {
      await shared.close();
      await proxy.close();
    }
  });

  it('hands a watch event larger than many network chunks over whole, and errors as the apiserver says them', async () => {
    const namespace = await newNamespace('api-connection-watch');
    const shared = new SharedConnectionConfig(testCluster().admin);
    const abort = new AbortController();
    const seen: EventRaise[] = [];
    try {
      const watching = shared.watch(`/apis/${GROUP}/${VERSION}/namespaces/${namespace}/eventraises?watch=true`, (type, obj) => {
        if (type === 'ADDED') seen.push(obj as EventRaise);
      }, { signal: abort.signal, silenceMs: 60_000 });
      // 7 params of 8000 characters: about 56 KB on one line.
      const params = Array.from({ length: 7 }, (_, i) => ({ name: `p${i}`, string: String.fromCharCode(97 + i).repeat(8000) }));
      await raiseEvent(namespace, { event: 'E_BIG', params }, 'big');
      await raiseEvent(namespace, { event: 'E_SMALL' }, 'small');
      await waitFor(async () => seen.length, (n) => (n === 2 ? n : undefined), 10_000);
      abort.abort();
      await watching;
      const missing = await shared.request('GET', `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/eventraises/nope`).then(() => undefined, (err: unknown) => err);

      assert.deepEqual(seen.map((r) => r.metadata.name), ['big', 'small']);
      assert.deepEqual(seen[0]!.spec.params, params);
      assert.equal(statusCode(missing), 404);
      assert.equal(errorText(missing), 'eventraises.eventxmlrpc.io "nope" not found');
    } finally {
      abort.abort();
      await shared.close();
    }
  });

  it('replaces a connection that stops answering once a watch on it gives up', async () => {
    await grantOperatorRbac();
    const namespace = await newNamespace('api-connection-frozen');
    const proxy = await proxyToApiserver();
    const shared = new SharedConnectionConfig(operatorConfigVia(proxy));
    try {
      await listRaisesWith(shared, namespace);
      assert.equal(proxy.freeze(), 1, 'one connection open, now silent');
      const ended = await shared
        .watch(`/apis/${GROUP}/${VERSION}/namespaces/${namespace}/eventraises?watch=true`, () => {}, { signal: new AbortController().signal, silenceMs: 300 })
        .then(() => undefined, (err: unknown) => err);
      await waitFor(async () => shared.connectionsReplaced, (n) => (n === 1 ? n : undefined), 10_000);
      const list = (await listRaisesWith(shared, namespace)) as { items: unknown[] };

      assert.equal((ended as Error | undefined)?.name, 'TimeoutError', 'the watch timed out on the frozen connection');
      assert.deepEqual(list.items, [], 'a call after that is answered');
      assert.equal(proxy.accepted, 2, 'on a second connection');
      await waitFor(async () => proxy.frozenClosedByClient, (n) => (n === 1 ? n : undefined), 5_000);
    } finally {
      await shared.close();
      await proxy.close();
    }
  });
});

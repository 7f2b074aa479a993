// deploy/ as installed: both kustomize variants rendered by a real kustomize,
// every object admitted by the API server, and the operator running with a
// token of the ServiceAccount under exactly the RBAC objects they define.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1ClusterRole,
  type V1Deployment,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Role,
  type V1RoleBinding,
  type V1Service,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import winston from 'winston';
import { GROUP, VERSION } from '../../src/api/types.js';
import { parseCommandLine } from '../../src/config.js';
import { Operator } from '../../src/operator.js';
import { DEFAULT_DENIED, EgressPolicy } from '../../src/core/egress-policy.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { apply, find, kustomize, relocate, render, roles, serviceAccountToken, statusOf, whenAllowed, wildcardRules } from '../support/deploy.js';
import { createSubscriber, raiseEvent, waitFor, waitForRaise, waitForReady } from '../support/objects.js';
import { refusedPort } from '../support/tcp-peers.js';
import { startPythonPeer, type XmlRpcPeer } from '../support/xmlrpc-peers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SYSTEM_NS = 'event-xmlrpc-system';
const SA = 'event-xmlrpc-operator';
const IMAGE = 'ghcr.io/eventxmlrpc/event-xmlrpc-operator';
const TOKEN_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** What deploy/ applies for real before the operator runs as its ServiceAccount. */
const IDENTITY_KINDS = new Set(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

/** The operator's rights: the contract of deploy/cluster-role.yaml and of each watched namespace's Role. */
const OPERATOR_RULES = [
  { apiGroups: ['eventxmlrpc.io'], resources: ['subscribers', 'eventraises', 'eventrelays'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['eventxmlrpc.io'], resources: ['subscribers/status', 'eventraises/status', 'eventrelays/status'], verbs: ['update'] },
  // create: a Durable EventRelay's raises; delete: spec.ttlSecondsAfterFinished
  { apiGroups: ['eventxmlrpc.io'], resources: ['eventraises'], verbs: ['create', 'delete'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
];
const LEASE_RULES = [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }];

const admin = () => testCluster().admin;
const quietLog = () => winston.createLogger({ level: 'error', transports: [new winston.transports.Console({ stderrLevels: ['error'] })] });

function container(objects: KubernetesObject[]) {
  const deployment = find<V1Deployment>(objects, 'Deployment', SA);
  const [operator, ...others] = deployment.spec!.template.spec!.containers;
  assert.equal(others.length, 0, 'one container');
  return operator!;
}

/** The container's environment variables that have a plain value (EVENT_XMLRPC_EGRESS_DENY). */
function plainEnv(objects: KubernetesObject[]): Record<string, string> {
  return Object.fromEntries((container(objects).env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
}

/**
 * The operator as the pod runs it: POD_NAMESPACE (downward API) names the
 * namespace of its Lease, and the container's environment applies. That
 * denies loopback, where the test's XML-RPC server listens: the tests reopen
 * its one address with --egress-allow=127.0.0.1/32, as an admin would.
 */
function operatorFor(kubeConfig: KubeConfig, argv: string[], podNamespace: string, objects: KubernetesObject[]): Operator {
  const env = { ...plainEnv(objects), POD_NAME: 'deploy-test', POD_NAMESPACE: podNamespace };
  const parsed = parseCommandLine([...argv, '--egress-allow=127.0.0.1/32'], env, 'test', () => undefined);
  assert.equal(parsed.kind, 'run', JSON.stringify(parsed));
  if (parsed.kind !== 'run') throw new Error('unreachable');
  return new Operator({ kubeConfig, config: parsed.config, log: quietLog() });
}

/** The Deployment's own args, with its fixed ports swapped for free ones (tests run side by side). */
function argsForTest(objects: KubernetesObject[], extra: string[]): string[] {
  return [...(container(objects).args ?? []).filter((a) => !/^--(http|relay)-port/.test(a)), '--http-port=0', '--relay-port=0', ...extra];
}

async function probe(operator: Operator, what: '/healthz' | '/readyz'): Promise<number> {
  return (await fetch(`http://127.0.0.1:${operator.httpPort}${what}`)).status;
}

function listSubscribers(kc: KubeConfig, namespace?: string): Promise<unknown> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const base = { group: GROUP, version: VERSION, plural: 'subscribers' };
  return namespace ? custom.listNamespacedCustomObject({ ...base, namespace }) : custom.listClusterCustomObject(base);
}

/** client-node model objects (classes) as plain data, to compare with literals. */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** The message of the API's Status answer carried by a client-node error. */
function statusMessage(err: unknown): string {
  try {
    return (JSON.parse(String((err as { body?: unknown }).body)) as { message?: string }).message ?? '';
  } catch {
    return String(err);
  }
}

async function forbidden(call: Promise<unknown>): Promise<void> {
  await assert.rejects(call, (err) => statusOf(err) === 403);
}

/** Applies for real what makes up the operator's identity and rights (idempotent: server-side apply). */
async function applyIdentity(objects: KubernetesObject[]): Promise<void> {
  for (const obj of objects.filter((o) => IDENTITY_KINDS.has(o.kind!))) await apply(admin(), obj);
}

describe('deploy/ manifests', () => {
  let base: KubernetesObject[];
  let namespaced: KubernetesObject[];

  before(async () => {
    const start = performance.now();
    await kustomize();
    [base, namespaced] = await Promise.all([render('deploy'), render('deploy/namespaced')]);
    process.stderr.write(`[deploy] kustomize ready and both variants rendered in ${((performance.now() - start) / 1000).toFixed(1)}s\n`);
  });

  it('deploy/ installs everything; deploy/namespaced/ swaps the ClusterRole for a Role per watched namespace', () => {
    const kinds = (objects: KubernetesObject[]) => objects.map((o) => `${o.kind} ${o.metadata?.namespace ?? '-'}/${o.metadata?.name}`).sort();
    const shared = [
      'CustomResourceDefinition -/eventraises.eventxmlrpc.io',
      'CustomResourceDefinition -/eventrelays.eventxmlrpc.io',
      'CustomResourceDefinition -/subscribers.eventxmlrpc.io',
      `Deployment ${SYSTEM_NS}/${SA}`,
      `Namespace -/${SYSTEM_NS}`,
      `NetworkPolicy ${SYSTEM_NS}/${SA}`,
      `Role ${SYSTEM_NS}/${SA}-leader-election`,
      `RoleBinding ${SYSTEM_NS}/${SA}-leader-election`,
      `Service ${SYSTEM_NS}/${SA}-metrics`,
      `Service ${SYSTEM_NS}/${SA}-relay`,
      `ServiceAccount ${SYSTEM_NS}/${SA}`,
    ];
    assert.deepEqual(kinds(base), [...shared, `ClusterRole -/${SA}`, `ClusterRoleBinding -/${SA}`].sort());
    assert.deepEqual(kinds(namespaced), [...shared, `Role voip/${SA}`, `RoleBinding voip/${SA}`].sort());

    for (const objects of [base, namespaced]) {
      const bindings = objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') as V1RoleBinding[];
      for (const binding of bindings) {
        assert.deepEqual(plain(binding.subjects), [{ kind: 'ServiceAccount', name: SA, namespace: SYSTEM_NS }], binding.metadata?.name);
        // A RoleBinding can only name a Role of its own namespace.
        const scope = binding.kind === 'RoleBinding' ? objects.filter((o) => o.metadata?.namespace === binding.metadata?.namespace) : objects;
        find(scope, binding.roleRef.kind, binding.roleRef.name);
      }
    }
    assert.deepEqual(
      container(namespaced).args?.filter((a) => a.startsWith('--namespace')),
      ['--namespace=voip'],
      'the namespaced variant watches exactly the namespaces it has a Role in',
    );
    assert.deepEqual(container(base).args?.filter((a) => a.startsWith('--namespace')), [], 'deploy/ watches every namespace');
  });

  it('RBAC grants exactly what the operator calls, with no wildcard', () => {
    assert.deepEqual(plain(find<V1ClusterRole>(base, 'ClusterRole', SA).rules), OPERATOR_RULES);
    assert.deepEqual(plain(find<V1Role>(namespaced.filter((o) => o.metadata?.namespace === 'voip'), 'Role', SA).rules), OPERATOR_RULES);
    for (const objects of [base, namespaced]) assert.deepEqual(plain(find<V1Role>(objects, 'Role', `${SA}-leader-election`).rules), LEASE_RULES);

    assert.deepEqual(wildcardRules([...base, ...namespaced]), []);
    // The check itself sees a wildcard in each of the three fields.
    const loose = { kind: 'ClusterRole', metadata: { name: 'loose' }, rules: [{ apiGroups: ['*'], resources: ['pods/*'], verbs: ['*'] }] };
    assert.equal(wildcardRules([loose]).length, 3);
    assert.equal(roles([...base, ...namespaced]).length, 4);
  });

  it('the Deployment: flags the operator accepts, probes, limits, hardening, and its own expiring token', () => {
    for (const objects of [base, namespaced]) {
      const parsed = parseCommandLine(container(objects).args ?? [], { POD_NAMESPACE: SYSTEM_NS }, 'test', () => undefined);
      assert.equal(parsed.kind, 'run', `the manifest's args: ${JSON.stringify(parsed)}`);
      if (parsed.kind === 'run') {
        assert.equal(parsed.config.httpPort, 8080);
        assert.equal(parsed.config.relayPort, 8091);
        assert.equal(parsed.config.relayHost, `${SA}-relay.${SYSTEM_NS}.svc`, 'status.socket names the relay Service');
        assert.equal(parsed.config.leaderElect, true);
        assert.equal(parsed.config.leaderElectionNamespace, SYSTEM_NS, 'the Lease is where the leader-election Role is');
      }
    }
    const deployment = find<V1Deployment>(base, 'Deployment', SA);
    const pod = deployment.spec!.template.spec!;
    const c = container(base);
    // Leader election makes a standby and a rolling update safe: only the Lease holder delivers.
    assert.equal(deployment.spec!.replicas, 2);
    assert.deepEqual(plain(deployment.spec!.strategy), { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    assert.deepEqual(plain(c.env), [
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
      { name: 'EVENT_XMLRPC_EGRESS_DENY', value: '127.0.0.0/8,::1' },
    ]);
    const withEnv = parseCommandLine(c.args ?? [], plainEnv(base), 'test', () => undefined);
    assert.ok(withEnv.kind === 'run', JSON.stringify(withEnv));
    const egress = EgressPolicy.fromFlags(withEnv.config.egressDeny, withEnv.config.egressAllow);
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '169.254.169.254', '0.0.0.0']) {
      assert.equal(egress.check(address).allowed, false, `${address} is denied in the pod`);
    }
    for (const address of ['10.0.0.7', '192.168.1.1', '2001:db8::1']) assert.equal(egress.check(address).allowed, true, address);
    const defaults = parseCommandLine([], {}, 'test');
    assert.ok(defaults.kind === 'run' && pod.terminationGracePeriodSeconds! * 1000 > defaults.config.shutdownGraceMs, 'the kubelet waits longer than --shutdown-grace');
    assert.equal(c.image, `${IMAGE}:0.1.0`);
    assert.deepEqual(plain(c.ports), [
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'relay', containerPort: 8091, protocol: 'TCP' },
    ]);
    assert.deepEqual([c.livenessProbe?.httpGet?.path, c.livenessProbe?.httpGet?.port], ['/healthz', 'http']);
    assert.deepEqual([c.readinessProbe?.httpGet?.path, c.readinessProbe?.httpGet?.port], ['/readyz', 'http']);
    assert.deepEqual(plain(c.resources), { requests: { cpu: '50m', memory: '256Mi' }, limits: { memory: '384Mi' } });
    assert.deepEqual(plain(c.securityContext), {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });

    assert.equal(find<V1ServiceAccount>(base, 'ServiceAccount', SA).automountServiceAccountToken, false);
    assert.equal(pod.serviceAccountName, SA);
    assert.equal(pod.automountServiceAccountToken, false);
    const mount = c.volumeMounts?.find((m) => m.mountPath === TOKEN_DIR);
    assert.equal(mount?.readOnly, true);
    const volume = pod.volumes?.find((v) => v.name === mount?.name);
    assert.deepEqual(plain(volume?.projected?.sources), [
      { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ]);

    const service = find<V1Service>(base, 'Service', `${SA}-metrics`);
    assert.deepEqual(plain(service.spec?.ports), [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    assert.deepEqual(plain(service.spec?.selector), deployment.spec!.selector.matchLabels);
    assert.equal(service.metadata?.annotations?.['prometheus.io/scrape'], 'true');
    assert.equal(service.metadata?.annotations?.['prometheus.io/port'], '8080');
    // Every replica serves the relays; one OpenSIPS stays on one replica (ordered delivery).
    const relay = find<V1Service>(base, 'Service', `${SA}-relay`);
    assert.deepEqual(plain(relay.spec?.ports), [{ name: 'relay', port: 8091, targetPort: 'relay', protocol: 'TCP' }]);
    assert.deepEqual(plain(relay.spec?.selector), deployment.spec!.selector.matchLabels);
    assert.equal(relay.spec?.sessionAffinity, 'ClientIP');
  });

  it('the NetworkPolicy: ingress only to the http and relay ports; egress DNS and TCP outside the ranges the operator denies by default', () => {
    const policy = find<V1NetworkPolicy>(base, 'NetworkPolicy', SA) as V1NetworkPolicy & { spec: NonNullable<V1NetworkPolicy['spec']> };
    const deployment = find<V1Deployment>(base, 'Deployment', SA);
    assert.deepEqual(plain(policy.spec.podSelector?.matchLabels), deployment.spec!.template.metadata!.labels);
    assert.deepEqual(policy.spec.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(plain(policy.spec.ingress), [{ ports: [{ port: 'http', protocol: 'TCP' }] }, { ports: [{ port: 'relay', protocol: 'TCP' }] }]);
    const [dns, tcp, ...others] = policy.spec.egress ?? [];
    assert.equal(others.length, 0);
    assert.deepEqual(plain(dns), { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] });
    assert.deepEqual(plain(tcp?.ports), [{ protocol: 'TCP' }]);
    const except = (tcp?.to ?? []).flatMap((peer) => peer.ipBlock?.except ?? []);
    for (const [cidr] of DEFAULT_DENIED.filter(([c]) => c !== '::/128')) assert.ok(except.includes(cidr), `${cidr} is excepted: ${except.join(', ')}`);
    assert.deepEqual(plain((tcp?.to ?? []).map((peer) => peer.ipBlock?.cidr)), ['0.0.0.0/0', '::/0']);
  });

  it('deploy/secret-access/ grants get on the named Secrets of one namespace to the ServiceAccount, and nothing else', async () => {
    const objects = await render('deploy/secret-access');
    assert.deepEqual(objects.map((o) => `${o.kind} ${o.metadata?.namespace}/${o.metadata?.name}`).sort(), ['Role voip/event-xmlrpc-secrets', 'RoleBinding voip/event-xmlrpc-secrets']);
    const role = find<V1Role>(objects, 'Role', 'event-xmlrpc-secrets');
    assert.deepEqual(plain(role.rules), [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['blocker-basic', 'blocker-ca'] }]);
    const binding = find<V1RoleBinding>(objects, 'RoleBinding', 'event-xmlrpc-secrets');
    assert.deepEqual(plain(binding.subjects), [{ kind: 'ServiceAccount', name: SA, namespace: SYSTEM_NS }]);
    assert.deepEqual(plain(binding.roleRef), { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'event-xmlrpc-secrets' });
    assert.deepEqual(wildcardRules(objects), []);
    await apply(admin(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'voip' } } as V1Namespace);
    for (const obj of objects) await assert.doesNotReject(apply(admin(), obj, { dryRun: true }), `${obj.kind} ${obj.metadata?.name}`);
    // The installed operator has no right on Secrets of its own.
    for (const variant of [base, namespaced]) {
      for (const r of roles(variant)) assert.ok(!(r.rules ?? []).some((rule) => rule.resources?.includes('secrets')), `${r.kind} ${r.metadata?.name}`);
    }
  });

  it('an overlay replaces the placeholder image with kustomize images:', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'deploy-overlay-'));
    try {
      const kustomization = [
        'resources:',
        // kustomize accepts only relative paths to a base.
        `  - ${path.relative(dir, path.join(ROOT, 'deploy'))}`,
        'images:',
        `  - name: ${IMAGE}`,
        '    newName: registry.example.com/event-xmlrpc-operator',
        '    newTag: "9.9.9"',
      ].join('\n');
      await writeFile(path.join(dir, 'kustomization.yaml'), `${kustomization}\n`);
      assert.equal(container(await render(dir)).image, 'registry.example.com/event-xmlrpc-operator:9.9.9');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('every object of deploy/ passes a server-side dry-run apply (CRDs included, unchanged)', async () => {
    // Namespaced objects can only be dry-run into a namespace that exists.
    await apply(admin(), find(base, 'Namespace', SYSTEM_NS));
    for (const obj of base) {
      await assert.doesNotReject(apply(admin(), obj, { dryRun: true }), `${obj.kind} ${obj.metadata?.name}`);
    }
  });

  it('every object of deploy/namespaced/ passes a server-side dry-run apply', async () => {
    await apply(admin(), find(namespaced, 'Namespace', SYSTEM_NS));
    // The example watched namespace is the user's: the variant does not create it.
    await apply(admin(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'voip' } } as V1Namespace);
    for (const obj of namespaced) {
      await assert.doesNotReject(apply(admin(), obj, { dryRun: true }), `${obj.kind} ${obj.metadata?.namespace}/${obj.metadata?.name}`);
    }
  });

  it('the pod template is admitted where the restricted Pod Security Standard is enforced', async () => {
    await apply(admin(), find(base, 'Namespace', SYSTEM_NS));
    const template = find<V1Deployment>(base, 'Deployment', SA).spec!.template;
    const core = admin().makeApiClient(CoreV1Api);
    const dryRunPod = (spec: typeof template.spec) =>
      core.createNamespacedPod({
        namespace: SYSTEM_NS,
        dryRun: 'All',
        body: { metadata: { name: 'pod-security-check', labels: template.metadata?.labels }, spec: spec! },
      });
    await dryRunPod(template.spec);
    // The namespace does enforce it: a container that may escalate is refused.
    const loose = structuredClone(template.spec!);
    loose.containers[0]!.securityContext!.allowPrivilegeEscalation = true;
    await assert.rejects(dryRunPod(loose), (err) => statusOf(err) === 403 && /violates PodSecurity "restricted/.test(statusMessage(err)));
  });

  describe('the operator as the ServiceAccount of deploy/', () => {
    let namespace: string;
    let peer: XmlRpcPeer;
    let operator: Operator | undefined;
    let kubeConfig: KubeConfig;

    before(async () => {
      namespace = await newNamespace('deploy-sa');
      peer = await startPythonPeer();
    });
    after(async () => {
      await operator?.stop();
      await peer?.close();
    });

    it('authenticates with a TokenRequest token of the ServiceAccount', async () => {
      await applyIdentity(base);
      kubeConfig = testCluster().kubeConfigForToken(await serviceAccountToken(admin(), SYSTEM_NS, SA));
      const review = await kubeConfig.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
      assert.equal(review.status?.userInfo?.username, `system:serviceaccount:${SYSTEM_NS}:${SA}`);
      await whenAllowed(() => listSubscribers(kubeConfig, namespace));
    });

    it('runs, gets a Subscriber Ready and a sync raise Delivered to the Python XML-RPC server', async () => {
      operator = operatorFor(kubeConfig, argsForTest(base, ['--namespace', namespace, '--sync-mode']), SYSTEM_NS, base);
      await operator.start();
      await waitFor(async () => operator!.isLeader, (leader) => leader || undefined);
      assert.equal(await probe(operator, '/healthz'), 200);
      assert.equal(await probe(operator, '/readyz'), 200);

      await createSubscriber(namespace, 'python', { event: 'E_DEPLOY', socket: `xmlrpc:127.0.0.1:${peer.port}:on_deploy` });
      await waitForReady(namespace, 'python');
      const raise = await raiseEvent(namespace, { event: 'E_DEPLOY', params: [{ name: 'ip', string: '10.0.0.7' }] });
      const done = await waitForRaise(namespace, raise.metadata.name!);
      assert.equal(done.status?.phase, 'Delivered', JSON.stringify(done.status));
      assert.deepEqual(
        done.status?.deliveries?.map((d) => [d.subscriber, d.outcome, d.httpStatus]),
        [['python', 'Delivered', 200]],
      );
      const [call] = await peer.log.waitFor(1);
      assert.deepEqual(call, { method: 'on_deploy', params: ['E_DEPLOY', 'ip', '10.0.0.7'] });
    });

    it('records failures as Kubernetes Events: created, then patched with the series count', async () => {
      const refused = await refusedPort();
      await createSubscriber(namespace, 'down', { event: 'E_DOWN', socket: `xmlrpc:127.0.0.1:${refused}:m` });
      await waitForReady(namespace, 'down');
      for (let i = 0; i < 2; i++) {
        const raise = await raiseEvent(namespace, { event: 'E_DOWN' });
        assert.equal((await waitForRaise(namespace, raise.metadata.name!)).status?.phase, 'Failed');
      }
      // stop() flushes the series: the second failure is a PATCH of the first one's Event.
      await operator!.stop();
      operator = undefined;
      const events = admin().makeApiClient(EventsV1Api);
      const event = await waitFor(
        () => events.listNamespacedEvent({ namespace }),
        (list) => list.items.find((e) => e.reason === 'DeliveryFailed' && e.regarding?.name === 'down'),
      );
      assert.equal(event.type, 'Warning');
      assert.equal(event.series?.count, 2, JSON.stringify(event));
    });
  });

  describe('the operator as the ServiceAccount of deploy/namespaced/', () => {
    let installNs: string;
    let watched: string;
    let elsewhere: string;
    let peer: XmlRpcPeer;
    let operator: Operator | undefined;
    let kubeConfig: KubeConfig;
    let rendered: KubernetesObject[];

    before(async () => {
      // The variant installed into its own namespaces, so that deploy/'s ClusterRoleBinding (bound to the
      // ServiceAccount in event-xmlrpc-system) does not apply: this ServiceAccount has the Roles only.
      [installNs, watched, elsewhere] = await Promise.all([newNamespace('deploy-op'), newNamespace('deploy-watched'), newNamespace('deploy-other')]);
      rendered = relocate(namespaced, { [SYSTEM_NS]: installNs, voip: watched });
      peer = await startPythonPeer();
    });
    after(async () => {
      await operator?.stop();
      await peer?.close();
    });

    it('its RBAC objects apply and its token can read the watched namespace', async () => {
      await applyIdentity(rendered.filter((o) => o.kind !== 'Namespace'));
      const token = await serviceAccountToken(admin(), installNs, SA);
      kubeConfig = testCluster().kubeConfigForToken(token);
      await whenAllowed(() => listSubscribers(kubeConfig, watched));
    });

    it('runs with Roles only, watching its namespace: Subscriber Ready, sync raise Delivered', async () => {
      // The variant's flags, with the example namespace moved like its Role.
      const args = argsForTest(rendered, ['--sync-mode']).map((a) => (a === '--namespace=voip' ? `--namespace=${watched}` : a));
      assert.deepEqual(args.filter((a) => a.startsWith('--namespace')), [`--namespace=${watched}`]);
      operator = operatorFor(kubeConfig, args, installNs, rendered);
      await operator.start();
      await waitFor(async () => operator!.isLeader, (leader) => leader || undefined);
      assert.equal(await probe(operator, '/readyz'), 200);

      await createSubscriber(watched, 'python', { event: 'E_DEPLOY', socket: `xmlrpc:127.0.0.1:${peer.port}:on_deploy` });
      await waitForReady(watched, 'python');
      const raise = await raiseEvent(watched, { event: 'E_DEPLOY' });
      const done = await waitForRaise(watched, raise.metadata.name!);
      assert.equal(done.status?.phase, 'Delivered', JSON.stringify(done.status));
      assert.deepEqual((await peer.log.waitFor(1))[0], { method: 'on_deploy', params: ['E_DEPLOY'] });
    });

    it('the same token is refused (403) for subscribers in another namespace and cluster-wide', async () => {
      await forbidden(listSubscribers(kubeConfig, elsewhere));
      await forbidden(listSubscribers(kubeConfig));
      // ...while an admin can list them there: the refusal is RBAC, not a missing namespace.
      await listSubscribers(admin(), elsewhere);
    });
  });
});

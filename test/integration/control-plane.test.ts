// The harness itself: a real apiserver with token authentication and RBAC on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { newNamespace, testCluster } from '../support/cluster.js';

/** The HTTP status a client call failed with (fails the test if it succeeded or failed otherwise). */
async function statusOf(call: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await call;
  } catch (err) {
    // client-node hands over a 403's body unparsed (a JSON metav1.Status) and drops a 401's.
    if (err instanceof ApiException) {
      const body = typeof err.body === 'string' ? (JSON.parse(err.body) as { message?: string }) : {};
      return { code: err.code, message: body.message ?? '' };
    }
    throw err;
  }
  assert.fail('expected the request to be refused');
}

test('the admin creates and reads a ConfigMap in a fresh namespace', async () => {
  const core = testCluster().admin.makeApiClient(CoreV1Api);
  const namespace = await newNamespace('harness');
  assert.match(namespace, /^harness-[a-z0-9]{5}$/);

  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'greeting' }, data: { hello: 'world' } } });
  const read = await core.readNamespacedConfigMap({ namespace, name: 'greeting' });
  assert.deepEqual(read.data, { hello: 'world' });
  assert.ok(read.metadata?.uid, 'a stored object has a uid');
});

test('an unknown token is unauthenticated (401)', async () => {
  const stranger = testCluster().kubeConfigForToken(randomBytes(16).toString('hex')).makeApiClient(CoreV1Api);
  assert.equal((await statusOf(stranger.listNamespace())).code, 401);
});

test('the operator token is authenticated but has only what RBAC grants it', async (t) => {
  const { admin, operator } = testCluster();
  const asOperator = operator.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);

  const refused = await statusOf(asOperator.listNamespace());
  assert.equal(refused.code, 403);
  assert.match(refused.message, /User "event-xmlrpc-operator" cannot list resource "namespaces"/);

  const name = `harness-list-namespaces-${randomBytes(3).toString('hex')}`;
  await rbac.createClusterRole({
    body: { metadata: { name }, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['list'] }] },
  });
  t.after(() => rbac.deleteClusterRole({ name }));
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'event-xmlrpc-operator' }],
    },
  });
  t.after(() => rbac.deleteClusterRoleBinding({ name }));

  // The RBAC authorizer reads roles through an informer: the grant lands within moments, not at once.
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      const list = await asOperator.listNamespace();
      assert.ok(list.items.some((ns) => ns.metadata?.name === 'default'));
      break;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 403) || performance.now() > deadline) throw err;
      await sleep(50);
    }
  }
});

// The entry point's answers when it cannot run: one clear line and an exit code.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeconfigYaml } from '../controlplane/control-plane.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { serviceAccountToken } from '../support/deploy.js';
import { waitFor } from '../support/objects.js';
import { OPERATOR_ARGV } from '../support/entry-points.js';
import { spawnOperator } from '../support/operator.js';
import { refusedPort } from '../support/tcp-peers.js';


function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Port 0: the default 8080 may be taken by an operator another test file runs.
    const child = spawn(process.execPath, [...OPERATOR_ARGV, '--http-port=0', ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function kubeconfig(server: string, token: string): Promise<string> {
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'startup-')), 'kubeconfig');
  await writeFile(file, kubeconfigYaml({ server, caFile: testCluster().info.caFile }, { name: 'someone', token }));
  return file;
}

function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, stderr);
  return lines[0]!;
}

describe('startup errors', () => {
  it('no reachable cluster: one line naming the server and what to check, exit 1', async () => {
    const port = await refusedPort();
    const file = await kubeconfig(`https://127.0.0.1:${port}`, 'x');
    const { code, stdout, stderr } = await run([], { KUBECONFIG: file });
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(
      oneLine(stderr),
      new RegExp(
        `^event-xmlrpc-operator: cannot reach the Kubernetes API at https://127\\.0\\.0\\.1:${port} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\): ` +
          `check that the cluster is running and that KUBECONFIG=${file} names it \\(kubectl config view --minify\\)$`,
      ),
    );
  });

  it('credentials the cluster refuses: which server refused which user, and what to do, exit 1', async () => {
    const file = await kubeconfig(testCluster().info.server, 'not-a-valid-token');
    const { code, stderr } = await run([], { KUBECONFIG: file });
    assert.equal(code, 1);
    assert.equal(
      oneLine(stderr),
      `event-xmlrpc-operator: the Kubernetes API at ${testCluster().info.server} refused the credentials of user "someone" from KUBECONFIG=${file} ` +
        '(HTTP 401 Unauthorized): its token or certificate is wrong or expired; renew them, or choose another context (kubectl config use-context NAME)',
    );
  });

  it('no kubeconfig at all: says to set KUBECONFIG, exit 1', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'startup-home-'));
    const { code, stderr } = await run([], { KUBECONFIG: '', HOME: home });
    assert.equal(code, 1);
    assert.equal(
      oneLine(stderr),
      `event-xmlrpc-operator: no kubeconfig: KUBECONFIG is not set, ${home}/.kube/config does not exist, and this is not a pod with a service account; ` +
        "set KUBECONFIG to your cluster's kubeconfig file (export KUBECONFIG=/path/to/kubeconfig)",
    );
  });

  it('KUBECONFIG naming a file that does not exist: says so, exit 1', async () => {
    const { code, stderr } = await run([], { KUBECONFIG: '/nonexistent/kubeconfig' });
    assert.equal(code, 1);
    assert.equal(
      oneLine(stderr),
      'event-xmlrpc-operator: KUBECONFIG=/nonexistent/kubeconfig names no file that exists: set KUBECONFIG to your kubeconfig file, or unset it to use ~/.kube/config',
    );
  });

  it('rights RBAC does not grant: it keeps retrying, and logs who lacks which verb and where the rules are', async (t) => {
    // A ServiceAccount that nothing is bound to: authenticated, discovery allowed, lists forbidden.
    const namespace = await newNamespace('startup-rbac');
    await testCluster().admin.makeApiClient(CoreV1Api).createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'nobody' } } });
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'startup-')), 'kubeconfig');
    const token = await serviceAccountToken(testCluster().admin, namespace, 'nobody');
    await writeFile(file, kubeconfigYaml(testCluster().info, { name: 'nobody', token }));
    const operator = await spawnOperator([], { KUBECONFIG: file });
    t.after(() => operator.kill());

    const line = await waitFor(
      async () => operator.lines,
      (lines) => lines.find((l) => l.includes('list/watch failed; retrying') && l.includes('/subscribers')),
    );
    const { error } = JSON.parse(line) as { error: string };
    const user = `system:serviceaccount:${namespace}:nobody`;
    assert.equal(
      error,
      `the Kubernetes API at ${testCluster().info.server} refused user "nobody": subscribers.eventxmlrpc.io is forbidden: ` +
        `User "${user}" cannot list resource "subscribers" in API group "eventxmlrpc.io" at the cluster scope; ` +
        'a cluster admin can grant it with RBAC (check: kubectl auth can-i list subscribers.eventxmlrpc.io --all-namespaces); ' +
        'the operator needs the rules of deploy/cluster-role.yaml (kubectl apply -k deploy/)',
    );
    assert.equal(operator.child.exitCode, null, 'a missing grant may come later: the operator waits for it');
  });

  it('a bad flag: the error and the usage, exit 2', async () => {
    const { code, stderr } = await run(['--connect-timeout=soon']);
    assert.equal(code, 2);
    assert.match(stderr, /^event-xmlrpc-operator: --connect-timeout must be a duration like 500ms, 5s or 1m, not "soon"/);
    assert.match(stderr, /Usage: event-xmlrpc-operator \[flags\]/);
  });

  it('--help lists every flag with its environment variable, exit 0', async () => {
    const { code, stdout } = await run(['--help']);
    assert.equal(code, 0);
    for (const flag of ['sync-mode', 'use-struct-param', 'namespace', 'user-agent', 'connect-timeout', 'response-timeout', 'log-level']) {
      assert.match(stdout, new RegExp(`--${flag}\\b[^\\n]*\\n[^\\n]*\\[env EVENT_XMLRPC_`), flag);
    }
  });
});

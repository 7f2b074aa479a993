// The operator started against a cluster without its CRDs, and the CLI used
// there: the same line from both, saying how to install them; exit 1.
// Runs alone after the other files (the runner's second phase), because it
// removes a CRD, and every object of that kind with it, for a moment.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiextensionsV1Api, KubernetesObjectApi, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { testCluster, writeKubeconfigFile } from '../support/cluster.js';
import { CLI_ENTRY, OPERATOR_ARGV } from '../support/entry-points.js';
import { waitFor } from '../support/objects.js';

const CRD_FILE = fileURLToPath(new URL('../../crds/eventraises.eventxmlrpc.io.yaml', import.meta.url));

function run(argv: readonly string[], kubeconfig: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...argv], { env: { ...process.env, KUBECONFIG: kubeconfig } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('startup without the CRDs', () => {
  it('operator and CLI say which CRD is missing and how to install it, in one line, exit 1', async () => {
    const crds = testCluster().admin.makeApiClient(ApiextensionsV1Api);
    const name = 'eventraises.eventxmlrpc.io';
    await crds.deleteCustomResourceDefinition({ name });
    try {
      await waitFor(
        () => crds.readCustomResourceDefinition({ name }).then(() => 200, (err: { code?: number }) => err.code),
        (code) => (code === 404 ? code : undefined),
      );
      const kubeconfig = await writeKubeconfigFile('admin');
      const sentence =
        `the Kubernetes API at ${testCluster().info.server} does not serve eventraises.eventxmlrpc.io (eventxmlrpc.io/v1alpha1): ` +
        'its CRDs are not installed; install them as a cluster admin: kubectl apply -f crds/';
      const operator = await run([...OPERATOR_ARGV, '--http-port=0'], kubeconfig);
      assert.equal(operator.code, 1);
      assert.equal(operator.stderr, `event-xmlrpc-operator: ${sentence}\n`);
      const cli = await run([CLI_ENTRY, 'raise', 'E_X', '-n', 'default'], kubeconfig);
      assert.equal(cli.code, 1);
      assert.equal(cli.stderr, `event-xmlrpc: ${sentence}\n`);
    } finally {
      const [crd] = loadAllYaml(readFileSync(CRD_FILE, 'utf8')) as KubernetesObject[];
      await KubernetesObjectApi.makeApiClient(testCluster().admin).create(crd!);
      await waitFor(
        () => crds.readCustomResourceDefinition({ name }),
        (c) => (c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True') ? c : undefined),
      );
    }
  });
});

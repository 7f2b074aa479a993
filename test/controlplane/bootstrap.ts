// Bringing up what the operator needs: the control-plane binaries and the CRDs.
// Shared by the test runner and `npm run local`.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ApiextensionsV1Api, CustomObjectsApi, KubernetesObjectApi, loadAllYaml, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

const root = path.resolve(import.meta.dirname, '../..');

/** build-binaries.sh: progress on stderr, the binaries' directory as the last stdout line. */
export function buildBinaries(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(root, 'test/controlplane/build-binaries.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const dir = out.trim().split('\n').at(-1);
      if (code === 0 && dir) resolve(dir);
      else reject(new Error(`build-binaries.sh exited with ${code}`));
    });
  });
}

export async function applyCrds(admin: KubeConfig, say: (line: string) => void): Promise<void> {
  const dir = path.join(root, 'crds');
  if (!existsSync(dir)) return;
  const docs = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .flatMap((f) => loadAllYaml(readFileSync(path.join(dir, f), 'utf8')) as (KubernetesObject | null)[])
    .filter((doc): doc is KubernetesObject => doc !== null && doc !== undefined);
  const objects = KubernetesObjectApi.makeApiClient(admin);
  for (const doc of docs) await objects.create(doc);

  const crds = admin.makeApiClient(ApiextensionsV1Api);
  const names = docs.filter((d) => d.kind === 'CustomResourceDefinition').map((d) => d.metadata!.name!);
  const deadline = performance.now() + 30_000;
  for (const name of names) {
    for (;;) {
      const crd = await crds.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (performance.now() > deadline) throw new Error(`CRD ${name} not Established after 30s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // Established comes before the storage is ready: a LIST answers 429 "storage is (re)initializing" until then.
  const custom = admin.makeApiClient(CustomObjectsApi);
  for (const doc of docs.filter((d) => d.kind === 'CustomResourceDefinition')) {
    const spec = (doc as { spec: { group: string; names: { plural: string }; versions: { name: string }[] } }).spec;
    for (;;) {
      try {
        await custom.listClusterCustomObject({ group: spec.group, version: spec.versions[0]!.name, plural: spec.names.plural });
        break;
      } catch (err) {
        if ((err as { code?: number }).code !== 429 || performance.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  if (names.length) say(`CRDs established: ${names.join(', ')}`);
}


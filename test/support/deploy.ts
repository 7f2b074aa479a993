// The manifests of deploy/ as the cluster sees them: rendered by a real
// kustomize, applied server-side, and the ServiceAccount's own tokens.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  loadAllYaml,
  type KubeConfig,
  type KubernetesObject,
  type V1PolicyRule,
} from '@kubernetes/client-node';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const FIELD_MANAGER = 'event-xmlrpc-deploy-test';

let kustomizeBinary: Promise<string> | undefined;

/** build-binaries.sh's kustomize (built once per machine, or $KUSTOMIZE): never kubectl's. */
export function kustomize(): Promise<string> {
  kustomizeBinary ??= run('bash', [path.join(ROOT, 'test/controlplane/build-binaries.sh'), 'kustomize'], { cwd: ROOT }).then(
    ({ stdout }) => {
      const bin = stdout.trim().split('\n').at(-1);
      if (!bin) throw new Error('build-binaries.sh kustomize printed no path');
      return bin;
    },
  );
  return kustomizeBinary;
}

/** `kustomize build` of a directory (relative to the repository root, or absolute), as objects. */
export async function render(dir: string): Promise<KubernetesObject[]> {
  const { stdout } = await run(await kustomize(), ['build', path.resolve(ROOT, dir)], { maxBuffer: 64 << 20 });
  return (loadAllYaml(stdout) as (KubernetesObject | null)[]).filter((o): o is KubernetesObject => o != null);
}

export type RbacRole = KubernetesObject & { rules?: V1PolicyRule[] };

export function roles(objects: KubernetesObject[]): RbacRole[] {
  return objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole') as RbacRole[];
}

/** One line per rule of a Role/ClusterRole that grants `*` in apiGroups, resources or verbs. */
export function wildcardRules(objects: KubernetesObject[]): string[] {
  return roles(objects).flatMap((role) =>
    (role.rules ?? []).flatMap((rule, i) =>
      (['apiGroups', 'resources', 'verbs'] as const)
        .filter((field) => rule[field]?.some((v) => v.includes('*')))
        .map((field) => `${role.kind} ${role.metadata?.namespace ?? ''}/${role.metadata?.name} rule ${i}: ${field} ${JSON.stringify(rule[field])}`),
    ),
  );
}

export function find<T extends KubernetesObject = KubernetesObject>(objects: KubernetesObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0] as T;
}

/** Server-side apply (kubectl apply --server-side); with dryRun the server validates and admits but stores nothing. */
export function apply(kc: KubeConfig, obj: KubernetesObject, opts: { dryRun?: boolean } = {}): Promise<KubernetesObject> {
  return KubernetesObjectApi.makeApiClient(kc).patch(
    obj,
    undefined,
    opts.dryRun ? 'All' : undefined,
    FIELD_MANAGER,
    false,
    PatchStrategy.ServerSideApply,
  );
}

/** A bound token for the ServiceAccount from the TokenRequest API, default audience. */
export async function serviceAccountToken(admin: KubeConfig, namespace: string, name: string, expirationSeconds = 3600): Promise<string> {
  const request = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  return token;
}

/** Copies of `objects` moved to other namespaces: metadata.namespace and RoleBinding subjects alike. */
export function relocate<T extends KubernetesObject>(objects: T[], moves: Record<string, string>): T[] {
  const to = (ns: string | undefined) => (ns !== undefined && moves[ns] !== undefined ? moves[ns] : ns);
  return objects.map((o) => {
    const copy = structuredClone(o) as T & { subjects?: { namespace?: string }[] };
    if (copy.metadata?.namespace) copy.metadata.namespace = to(copy.metadata.namespace);
    for (const subject of copy.subjects ?? []) if (subject.namespace) subject.namespace = to(subject.namespace);
    return copy;
  });
}

/** HTTP status of a client-node error (undefined when it is not an API answer). */
export { statusCode as statusOf } from '../../src/kube/errors.js';
export { whenAllowed } from './allowed.js';

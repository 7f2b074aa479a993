import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION, type Resource } from '../api/types.js';
import { errorText, statusCode } from './errors.js';
import type { KubeObject, ObjectList } from './informer.js';

/** Loads KUBECONFIG, then ~/.kube/config, then the in-cluster service account. */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/** The URL path of a kind's objects, in one namespace or all. */
export function collectionPath(resource: Resource, namespace: string | undefined): string {
  const ns = namespace ? `/namespaces/${namespace}` : '';
  return `/apis/${resource.group}/${resource.version}${ns}/${resource.plural}`;
}

export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/** The few API calls the operator makes besides its watches. */
export class ApiClient {
  private readonly custom: CustomObjectsApi;

  constructor(readonly kubeConfig: KubeConfig) {
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  get server(): string {
    return this.kubeConfig.getCurrentCluster()?.server ?? '(no cluster in kubeconfig)';
  }

  /** Fails with one readable sentence when the API is unreachable or the CRDs are missing. */
  async checkCrds(resources: readonly Resource[]): Promise<void> {
    let served: Set<string>;
    try {
      const list = await this.custom.getAPIResources({ group: GROUP, version: VERSION });
      served = new Set(list.resources.map((r) => r.name));
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) {
        throw new StartupError(
          `the ${GROUP}/${VERSION} API is not served by ${this.server}: install the CRDs first (kubectl apply -f crds/)`,
        );
      }
      if (code === 401 || code === 403) {
        throw new StartupError(`the Kubernetes API at ${this.server} refused our credentials: ${errorText(err)}`);
      }
      throw new StartupError(`cannot reach the Kubernetes API at ${this.server}: ${errorText(err)}`);
    }
    const missing = resources.filter((r) => !served.has(r.plural)).map((r) => `${r.plural}.${GROUP}`);
    if (missing.length) {
      throw new StartupError(`CRD ${missing.join(', ')} not installed on ${this.server}: kubectl apply -f crds/`);
    }
  }

  list<T>(resource: Resource, namespace: string | undefined, continueToken: string | undefined): Promise<ObjectList<T>> {
    const page = { group: resource.group, version: resource.version, plural: resource.plural, limit: 500, _continue: continueToken };
    return namespace
      ? this.custom.listNamespacedCustomObject({ ...page, namespace })
      : this.custom.listClusterCustomObject(page);
  }

  /** Deletes the object, not a namesake created since; one already gone is fine. */
  async delete(resource: Resource, obj: KubeObject): Promise<void> {
    try {
      await this.custom.deleteNamespacedCustomObject({
        group: resource.group,
        version: resource.version,
        plural: resource.plural,
        namespace: obj.metadata!.namespace!,
        name: obj.metadata!.name!,
        body: { preconditions: { uid: obj.metadata!.uid } },
      });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  /** PUT on the status subresource; the object's resourceVersion makes a stale write fail with 409. */
  async replaceStatus<T extends KubeObject & { status?: unknown }>(resource: Resource, obj: T, status: T['status']): Promise<T> {
    return this.custom.replaceNamespacedCustomObjectStatus({
      group: resource.group,
      version: resource.version,
      plural: resource.plural,
      namespace: obj.metadata!.namespace!,
      name: obj.metadata!.name!,
      body: { ...obj, status },
    });
  }
}

import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION, type Resource } from '../api/types.js';
import { SharedConnectionConfig } from './api-connection.js';
import { ClusterError, crdsNotInstalled, explainApiError, statusCode, type ApiTarget } from './errors.js';
import type { KubeObject, ObjectList } from './informer.js';
import { apiTarget } from './kubeconfig.js';

/** Where the operator's rights are written down, for a 403. */
export const OPERATOR_RIGHTS = "the operator needs the rules of deploy/cluster-role.yaml (kubectl apply -k deploy/)";

/** The URL path of a kind's objects, in one namespace or all. */
export function collectionPath(resource: Resource, namespace: string | undefined): string {
  const ns = namespace ? `/namespaces/${namespace}` : '';
  return `/apis/${resource.group}/${resource.version}${ns}/${resource.plural}`;
}

function objectPath(resource: Resource, namespace: string, name: string): string {
  return `${collectionPath(resource, namespace)}/${encodeURIComponent(name)}`;
}

/**
 * The few API calls the operator makes besides its watches, and the one
 * connection to the apiserver: every other client (watches, Events, the
 * Lease) is made from `kubeConfig`, which shares it.
 */
export class ApiClient {
  readonly kubeConfig: SharedConnectionConfig;
  private readonly custom: CustomObjectsApi;
  readonly target: ApiTarget;

  constructor(kubeConfig: KubeConfig) {
    this.kubeConfig = kubeConfig instanceof SharedConnectionConfig ? kubeConfig : new SharedConnectionConfig(kubeConfig);
    this.custom = this.kubeConfig.makeApiClient(CustomObjectsApi);
    this.target = apiTarget(kubeConfig);
  }

  /** Closes the connection; nothing made from `kubeConfig` works afterwards. */
  close(): Promise<void> {
    return this.kubeConfig.close();
  }

  get server(): string {
    return this.target.server;
  }

  /** Fails with one ClusterError sentence when the API is unreachable, refuses us, or lacks the CRDs. */
  async checkCrds(resources: readonly Resource[]): Promise<void> {
    let served: Set<string>;
    try {
      const list = await this.custom.getAPIResources({ group: GROUP, version: VERSION });
      served = new Set(list.resources.map((r) => r.name));
    } catch (err) {
      if (statusCode(err) === 404) throw new ClusterError(crdsNotInstalled(this.server, resources));
      throw new ClusterError(explainApiError(err, this.target, { rightsHint: OPERATOR_RIGHTS }));
    }
    const missing = resources.filter((r) => !served.has(r.plural));
    if (missing.length) throw new ClusterError(crdsNotInstalled(this.server, missing));
  }

  /** One page (at most 500 objects) of a kind, in one namespace or all. */
  list<T>(resource: Resource, namespace: string | undefined, continueToken: string | undefined): Promise<ObjectList<T>> {
    const query = new URLSearchParams({ limit: '500' });
    if (continueToken) query.set('continue', continueToken);
    return this.kubeConfig.request('GET', `${collectionPath(resource, namespace)}?${query}`);
  }

  /** One object, read from the apiserver (not the cache). */
  get<T>(resource: Resource, namespace: string, name: string): Promise<T> {
    return this.kubeConfig.request('GET', objectPath(resource, namespace, name));
  }

  /** Deletes the object, not a namesake created since; one already gone is fine. */
  async delete(resource: Resource, obj: KubeObject): Promise<void> {
    try {
      await this.kubeConfig.request('DELETE', objectPath(resource, obj.metadata!.namespace!, obj.metadata!.name!), {
        preconditions: { uid: obj.metadata!.uid },
      });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  /** PUT on the status subresource; the object's resourceVersion makes a stale write fail with 409. */
  /** POST of a new object into its namespace. */
  create<T extends KubeObject>(resource: Resource, obj: T): Promise<T> {
    return this.kubeConfig.request('POST', collectionPath(resource, obj.metadata!.namespace!), obj);
  }

  async replaceStatus<T extends KubeObject & { status?: unknown }>(resource: Resource, obj: T, status: T['status']): Promise<T> {
    return this.kubeConfig.request('PUT', `${objectPath(resource, obj.metadata!.namespace!, obj.metadata!.name!)}/status`, { ...obj, status });
  }
}

// Where the cluster comes from, as kubectl finds it: KUBECONFIG, then
// ~/.kube/config, then the in-cluster service account. The operator and the
// CLI load it here, and name it in every error about the cluster.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig, findHomeDir } from '@kubernetes/client-node';
import { ClusterError, type ApiTarget } from './errors.js';

// client-node's names for the contexts it makes up itself.
const IN_CLUSTER_CONTEXT = 'inClusterContext';
const FALLBACK_CONTEXT = 'loaded-context';

/** Loads the kubeconfig like kubectl, or fails with a ClusterError saying what to set. */
export function loadKubeConfig(): KubeConfig {
  const files = kubeconfigFiles();
  if (files.length && files.every((file) => !existsSync(file))) {
    throw new ClusterError(
      `KUBECONFIG=${process.env.KUBECONFIG} names no file that exists: set KUBECONFIG to your kubeconfig file, or unset it to use ~/.kube/config`,
    );
  }
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    throw new ClusterError(`cannot read the kubeconfig (${source(kc)}): ${(err as Error).message.split('\n')[0]}`);
  }
  // With nothing to load, client-node makes up http://localhost:8080, which it then refuses to call.
  if (!files.length && kc.currentContext === FALLBACK_CONTEXT) {
    const home = findHomeDir();
    throw new ClusterError(
      `no kubeconfig: KUBECONFIG is not set, ${home ? path.join(home, '.kube', 'config') : '~/.kube/config (no home directory)'} does not exist, ` +
        `and this is not a pod with a service account; set KUBECONFIG to your cluster's kubeconfig file (export KUBECONFIG=/path/to/kubeconfig)`,
    );
  }
  if (!kc.getCurrentCluster()) {
    const context = kc.getCurrentContext();
    throw new ClusterError(
      `the kubeconfig (${source(kc)}) ${context ? `has no cluster for its current context "${context}"` : 'has no current context'}: choose one with kubectl config use-context NAME`,
    );
  }
  return kc;
}

/** Server, identity and origin of a loaded kubeconfig, for messages. */
export function apiTarget(kc: KubeConfig): ApiTarget {
  const inCluster = kc.currentContext === IN_CLUSTER_CONTEXT;
  const user = kc.getCurrentUser()?.name;
  return {
    server: kc.getCurrentCluster()?.server ?? '(no cluster in the kubeconfig)',
    identity: inCluster ? "the pod's service account" : `user "${user ?? '(none)'}"`,
    source: source(kc),
  };
}

function kubeconfigFiles(): string[] {
  return (process.env.KUBECONFIG ?? '').split(path.delimiter).filter(Boolean);
}

function source(kc: KubeConfig): string {
  if (process.env.KUBECONFIG) return `KUBECONFIG=${process.env.KUBECONFIG}`;
  if (kc.currentContext === IN_CLUSTER_CONTEXT) return 'the in-cluster configuration';
  const home = findHomeDir();
  return home ? path.join(home, '.kube', 'config') : '~/.kube/config';
}

// What a test file (its own process under node --test) uses to reach the one
// control plane that test/run.ts started for the whole run.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { kubeconfigYaml, makeKubeConfig, type ClusterEndpoint } from '../controlplane/control-plane.js';

export const CLUSTER_ENV = 'EVENT_XMLRPC_TEST_CLUSTER';

/** The JSON file named by EVENT_XMLRPC_TEST_CLUSTER. */
export interface ClusterInfo extends ClusterEndpoint {
  adminToken: string;
  operatorToken: string;
  /** etcd's client URL (see test/support/etcd.ts). */
  etcdServer: string;
}

export interface TestCluster {
  info: ClusterInfo;
  /** user admin, group system:masters */
  admin: KubeConfig;
  /** user event-xmlrpc-operator, no groups: only what RBAC objects grant it */
  operator: KubeConfig;
  kubeConfigForToken(token: string): KubeConfig;
}

/** For the runner: publish a started control plane to the test processes. */
export function writeClusterInfo(file: string, cp: ClusterInfo): void {
  const info: ClusterInfo = { server: cp.server, caFile: cp.caFile, adminToken: cp.adminToken, operatorToken: cp.operatorToken, etcdServer: cp.etcdServer };
  writeFileSync(file, JSON.stringify(info, null, 2), { mode: 0o600 });
}

let cached: TestCluster | undefined;

export function testCluster(): TestCluster {
  if (cached) return cached;
  const file = process.env[CLUSTER_ENV];
  if (!file) throw new Error(`${CLUSTER_ENV} is not set: integration tests need the control plane: run them with npm test`);
  const info = JSON.parse(readFileSync(file, 'utf8')) as ClusterInfo;
  cached = {
    info,
    admin: makeKubeConfig(info, { name: 'admin', token: info.adminToken }),
    operator: makeKubeConfig(info, { name: 'event-xmlrpc-operator', token: info.operatorToken }),
    kubeConfigForToken: (token) => makeKubeConfig(info, { name: 'token-user', token }),
  };
  return cached;
}

/** Creates `${prefix}-xxxxx` with the admin client and returns its name. */
export async function newNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomSuffix(5)}`;
  await testCluster().admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

/** Writes a kubeconfig for `user` (the run's two, or any token) to a fresh temp file and returns its path. */
export async function writeKubeconfigFile(user: 'admin' | 'operator' | { name: string; token: string }): Promise<string> {
  const { info } = testCluster();
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'event-xmlrpc-kubeconfig-')), 'kubeconfig');
  const identity =
    typeof user === 'object'
      ? user
      : user === 'admin'
        ? { name: 'admin', token: info.adminToken }
        : { name: 'event-xmlrpc-operator', token: info.operatorToken };
  await writeFile(file, kubeconfigYaml(info, identity), { mode: 0o600 });
  return file;
}

function randomSuffix(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(length), (b) => alphabet[b % alphabet.length]).join('');
}

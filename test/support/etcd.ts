// Stores an object the way an older, laxer schema would have let it in:
// straight into etcd (its JSON gateway), under the key the apiserver reads.
// The apiserver serves it, and the operator sees it, like any other object;
// admission never saw it. This is how a test gets the objects whose problems
// only a status condition can report.
import { randomUUID } from 'node:crypto';
import { testCluster } from './cluster.js';

export async function storeUnchecked(plural: string, obj: { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; spec: unknown }): Promise<void> {
  const [group] = obj.apiVersion.split('/');
  const key = `/registry/${group}/${plural}/${obj.metadata.namespace}/${obj.metadata.name}`;
  const stored = {
    ...obj,
    metadata: { ...obj.metadata, uid: randomUUID(), generation: 1, creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') },
  };
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const res = await fetch(`${testCluster().info.etcdServer}/v3/kv/put`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(key), value: b64(JSON.stringify(stored)) }),
  });
  if (!res.ok) throw new Error(`etcd put ${key}: HTTP ${res.status} ${await res.text()}`);
}

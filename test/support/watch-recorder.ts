import { Watch } from '@kubernetes/client-node';
import { GROUP, VERSION, type EventRaise } from '../../src/api/types.js';
import { testCluster } from './cluster.js';

/** Every change of one namespace's raises, in the order a watch saw them: a poll can miss a short-lived state. */
export interface RaiseRecorder {
  /** The phases one raise went through: `new` before it had one, `deleted` at the end. */
  phases(name: string): string[];
  stop(): void;
}

export async function recordRaises(namespace: string): Promise<RaiseRecorder> {
  const seen = new Map<string, string[]>();
  const watch = await new Watch(testCluster().admin).watch(
    `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/eventraises`,
    {},
    (type: string, obj: EventRaise) => {
      const name = obj.metadata?.name ?? '';
      const list = seen.get(name) ?? [];
      list.push(type === 'DELETED' ? 'deleted' : (obj.status?.phase ?? 'new'));
      seen.set(name, list);
    },
    () => {},
  );
  return { phases: (name) => [...(seen.get(name) ?? [])], stop: () => watch.abort() };
}

// Creating and reading the operator's objects as a user would (admin client).
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { EventParam } from '../../src/core/event-params.js';
import { GROUP, VERSION, type EventRaise, type Subscriber, type SubscriberSpec } from '../../src/api/types.js';
import { testCluster } from './cluster.js';
import { raiseParams } from './raise-names.js';

const api = () => testCluster().admin.makeApiClient(CustomObjectsApi);

export async function createSubscriber(
  namespace: string,
  name: string,
  spec: SubscriberSpec,
): Promise<Subscriber> {
  return api().createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: 'subscribers',
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'Subscriber', metadata: { name }, spec },
  });
}

export async function raiseEvent(
  namespace: string,
  spec: { event: string; params?: EventParam[]; syncMode?: boolean; ttlSecondsAfterFinished?: number },
  name?: string,
): Promise<EventRaise> {
  const metadata = name ? { name } : { generateName: `${spec.event.toLowerCase().replaceAll('_', '-')}-` };
  return api().createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: 'eventraises',
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'EventRaise', metadata, spec },
  });
}

/** A raise named `name` that carries its name in its "raise" param (see raise-names.ts), plus `params`. */
export function raiseNamed(
  namespace: string,
  name: string,
  spec: { event: string; params?: EventParam[]; syncMode?: boolean },
): Promise<EventRaise> {
  return raiseEvent(namespace, { ...spec, params: [...raiseParams(name), ...(spec.params ?? [])] }, name);
}

export async function getObject<T>(namespace: string, plural: 'subscribers' | 'eventraises' | 'eventrelays', name: string): Promise<T> {
  return api().getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name });
}

export async function listRaises(namespace: string): Promise<EventRaise[]> {
  const list = (await api().listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'eventraises' })) as {
    items: EventRaise[];
  };
  return list.items;
}

/** First pause between polls, and the longest: a short wait ends soon, a long one does not load the apiserver. */
const FIRST_POLL_MS = 25;
const MAX_POLL_MS = 250;

/** Polls until `check` returns a value (not undefined), or fails with the last object seen. */
export async function waitFor<T, R>(read: () => Promise<T>, check: (value: T) => R | undefined, timeoutMs = 20_000): Promise<R> {
  const deadline = performance.now() + timeoutMs;
  let last: T | undefined;
  for (let pause = FIRST_POLL_MS; ; pause = Math.min(pause * 1.5, MAX_POLL_MS)) {
    last = await read();
    const result = check(last);
    if (result !== undefined) return result;
    if (performance.now() > deadline) throw new Error(`timed out; last seen: ${JSON.stringify(last, null, 2)}`);
    await new Promise((r) => setTimeout(r, pause));
  }
}

export const TERMINAL = new Set(['Dispatched', 'Delivered', 'PartiallyDelivered', 'Failed', 'NoSubscribers']);

export function waitForRaise(namespace: string, name: string, timeoutMs?: number): Promise<EventRaise> {
  return waitFor(
    () => getObject<EventRaise>(namespace, 'eventraises', name),
    (r) => (r.status?.phase && TERMINAL.has(r.status.phase) ? r : undefined),
    timeoutMs,
  );
}

export function waitForReady(namespace: string, name: string, status: 'True' | 'False' = 'True'): Promise<Subscriber> {
  return waitFor(
    () => getObject<Subscriber>(namespace, 'subscribers', name),
    (s) => {
      const ready = s.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === status && ready.observedGeneration === s.metadata.generation ? s : undefined;
    },
  );
}

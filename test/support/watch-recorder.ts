// Every change of a collection in the order a watch delivers it: a poll can
// miss a short-lived state, and the watch's order is the order in which the
// apiserver committed the changes.
import { Watch } from '@kubernetes/client-node';
import { EVENT_RAISES, type EventRaise } from '../../src/api/types.js';
import { collectionPath } from '../../src/kube/api-client.js';
import { testCluster } from './cluster.js';
import { TERMINAL } from './objects.js';

/** What the recorder needs of an object. */
interface WatchedObject {
  metadata?: { name?: string; resourceVersion?: string };
}

export interface Change<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: T;
  /** Date.now() when this process received it: never earlier than the apiserver committed the change. */
  at: number;
}

export interface WatchRecorder<T> {
  /** The changes so far, in order: all of them, or those of the object named `name`. */
  changes(name?: string): Change<T>[];
  /** Resolves once `check` of the changes so far gives a value; rejects after `timeoutMs`, naming `what`. */
  until<R>(check: (changes: Change<T>[]) => R | undefined, what: string, timeoutMs?: number): Promise<R>;
  stop(): void;
}

/**
 * Watches `path` (a collection, e.g. one namespace's eventraises) with the
 * admin client: from `resourceVersion` when given, else from the objects
 * there now (each an ADDED). A watch the server ends is made again from the
 * last resourceVersion seen; after a 410 Gone it starts over (the objects
 * there then come again as ADDED). Resolves once the first watch is open.
 */
export async function recordWatch<T extends WatchedObject>(path: string, options: { resourceVersion?: string } = {}): Promise<WatchRecorder<T>> {
  const all: Change<T>[] = [];
  const byName = new Map<string, Change<T>[]>();
  const waiters = new Set<() => void>();
  const watch = new Watch(testCluster().admin);
  let resourceVersion = options.resourceVersion ?? '';
  let stopped = false;
  let abort: AbortController | undefined;

  const onEvent = (type: string, obj: T & { code?: number }) => {
    if (type === 'ERROR') {
      if (obj.code === 410) resourceVersion = '';
      return;
    }
    if (obj.metadata?.resourceVersion) resourceVersion = obj.metadata.resourceVersion;
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
    const change: Change<T> = { type, object: obj, at: Date.now() };
    all.push(change);
    const name = obj.metadata?.name ?? '';
    const ofName = byName.get(name) ?? [];
    ofName.push(change);
    byName.set(name, ofName);
    for (const wake of waiters) wake();
  };
  const open = async (): Promise<void> => {
    const query = resourceVersion ? { resourceVersion, allowWatchBookmarks: true } : { allowWatchBookmarks: true };
    abort = await watch.watch(path, query, onEvent, (err: unknown) => {
      if (!stopped) setTimeout(reopen, err ? 100 : 0);
    });
    if (stopped) abort.abort();
  };
  const reopen = (): void => {
    if (!stopped) open().catch(() => setTimeout(reopen, 100));
  };
  await open();

  return {
    changes: (name) => [...(name === undefined ? all : (byName.get(name) ?? []))],
    async until(check, what, timeoutMs = 20_000) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const result = check([...all]);
        if (result !== undefined) return result;
        const left = deadline - performance.now();
        if (left <= 0) throw new Error(`the watch of ${path} saw no ${what} within ${timeoutMs} ms; it saw ${all.length} changes`);
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            waiters.delete(done);
            resolve();
          };
          const timer = setTimeout(done, left);
          waiters.add(done);
        });
      }
    },
    stop() {
      stopped = true;
      abort?.abort();
    },
  };
}

export interface RaiseRecorder extends WatchRecorder<EventRaise> {
  /** The phases one raise went through, as seen: `new` before it had one, `deleted` at the end. */
  phases(name: string): string[];
  /** When this process first received the raise in a terminal phase (Date.now()), if it has. */
  firstTerminal(name: string): number | undefined;
}

/** Every change of one namespace's EventRaises (see recordWatch). */
export async function recordRaises(namespace: string): Promise<RaiseRecorder> {
  const recorder = await recordWatch<EventRaise>(collectionPath(EVENT_RAISES, namespace));
  return {
    ...recorder,
    phases: (name) => recorder.changes(name).map((c) => (c.type === 'DELETED' ? 'deleted' : (c.object.status?.phase ?? 'new'))),
    firstTerminal: (name) => recorder.changes(name).find((c) => c.type !== 'DELETED' && TERMINAL.has(c.object.status?.phase ?? ''))?.at,
  };
}

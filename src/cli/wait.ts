import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import { EVENT_RAISES, type EventRaise } from '../api/types.js';
import { isTerminal } from '../core/raise-status.js';
import { clampTimerMs } from '../core/timer.js';
import { collectionPath } from '../kube/api-client.js';
import { statusCode } from '../kube/errors.js';

export type WaitResult =
  | { kind: 'terminal'; raise: EventRaise }
  | { kind: 'deleted' }
  /** `last` is the newest version seen. */
  | { kind: 'timeout'; last: EventRaise };

type WatchEnd =
  | { kind: 'terminal'; raise: EventRaise }
  | { kind: 'deleted' }
  | { kind: 'timeout' }
  /** The stream ended first: the server closed it, our resourceVersion is gone (410), or it failed. */
  | { kind: 'dropped'; failed: boolean };

/** A failing watch is opened again at most this often. */
const REWATCH_MS = 1000;

/**
 * Follows one EventRaise until its phase is terminal, with a watch on that
 * object alone starting from `raise`'s resourceVersion, so no change made
 * after it is missed. When the watch drops, one GET refreshes the object and
 * its resourceVersion, and a new watch starts from there.
 */
export async function waitForTerminal(kubeConfig: KubeConfig, raise: EventRaise, timeoutMs: number): Promise<WaitResult> {
  const namespace = raise.metadata.namespace!;
  const name = raise.metadata.name!;
  const path = collectionPath(EVENT_RAISES, namespace);
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const watch = new Watch(kubeConfig);
  const deadline = Date.now() + timeoutMs;
  const cursor = { last: raise, resourceVersion: raise.metadata.resourceVersion };

  for (;;) {
    if (isTerminal(cursor.last.status)) return { kind: 'terminal', raise: cursor.last };
    const started = Date.now();
    const end = await watchOnce(watch, path, name, cursor, deadline);
    if (end.kind === 'timeout') return { kind: 'timeout', last: cursor.last };
    if (end.kind !== 'dropped') return end;

    if (end.failed) await sleep(Math.min(started + REWATCH_MS, deadline) - Date.now());
    const read = api
      .getNamespacedCustomObject({ group: EVENT_RAISES.group, version: EVENT_RAISES.version, plural: EVENT_RAISES.plural, namespace, name })
      .then((obj: EventRaise) => obj, (err: unknown) => (statusCode(err) === 404 ? ('deleted' as const) : Promise.reject(err)));
    read.catch(() => {}); // a failure after the deadline is nobody's business
    const fresh = await beforeDeadline(read, deadline);
    if (fresh === undefined) return { kind: 'timeout', last: cursor.last };
    if (fresh === 'deleted') return { kind: 'deleted' };
    cursor.last = fresh;
    cursor.resourceVersion = fresh.metadata.resourceVersion;
  }
}

function watchOnce(
  watch: Watch,
  path: string,
  name: string,
  cursor: { last: EventRaise; resourceVersion: string | undefined },
  deadline: number,
): Promise<WatchEnd> {
  return new Promise((resolve) => {
    let controller: AbortController | undefined;
    let settled = false;
    const finish = (end: WatchEnd) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      controller?.abort();
      resolve(end);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), clampTimerMs(deadline - Date.now()));

    const onEvent = (type: string, obj: EventRaise & { code?: number }) => {
      switch (type) {
        case 'ADDED':
        case 'MODIFIED':
          cursor.last = obj;
          cursor.resourceVersion = obj.metadata.resourceVersion;
          if (isTerminal(obj.status)) finish({ kind: 'terminal', raise: obj });
          return;
        case 'BOOKMARK':
          cursor.resourceVersion = obj.metadata.resourceVersion;
          return;
        case 'DELETED':
          finish({ kind: 'deleted' });
          return;
        case 'ERROR':
          finish({ kind: 'dropped', failed: obj.code !== 410 });
          return;
      }
    };
    const query = {
      fieldSelector: `metadata.name=${name}`,
      resourceVersion: cursor.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: Math.max(1, Math.ceil((deadline - Date.now()) / 1000)),
    };
    watch.watch(path, query, onEvent, (err: unknown) => finish({ kind: 'dropped', failed: Boolean(err) })).then(
      (c) => {
        controller = c;
        if (settled) c.abort();
      },
      () => finish({ kind: 'dropped', failed: true }),
    );
  });
}

/** The promise's value, or undefined if the deadline comes first. */
async function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), clampTimerMs(deadline - Date.now()))));
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, clampTimerMs(ms)));
}

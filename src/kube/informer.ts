import type { Logger } from 'winston';
import { parseDuration } from '../core/duration.js';
import { Pause } from '../pause.js';
import type { SharedConnectionConfig } from './api-connection.js';
import { errorText, explainApiError, statusCode, type ApiTarget } from './errors.js';
import { apiTarget } from './kubeconfig.js';
import { LogMessage } from '../log-messages.js';

/** What the informer needs of an object: its identity and version. */
export interface KubeObject {
  metadata?: { namespace?: string; name?: string; uid?: string; resourceVersion?: string };
}

export interface ObjectList<T> {
  items: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

export interface InformerOptions<T> {
  /** The connection its watch uses. */
  kubeConfig: SharedConnectionConfig;
  /** Collection path, e.g. /apis/eventxmlrpc.io/v1alpha1/namespaces/voip/subscribers. */
  path: string;
  /** One page of the collection; called with the continue token of the previous page. */
  list: (continueToken: string | undefined) => Promise<ObjectList<T>>;
  log: Logger;
  /**
   * What the cache keeps of each object that arrives (listed, added,
   * modified or deleted), as controller-runtime's cache TransformFunc: a pure
   * function that drops what no reader needs. Handlers see what it returns.
   */
  transform?: (obj: T) => T;
  /** Said with a 403: where the rights the informer lacks are written down. */
  rightsHint?: string;
  /** Watches are closed by the server after a random 5..10 minutes, as client-go does. */
  minWatchSeconds?: number;
  /**
   * A watch that received nothing (not even a bookmark) for this long is
   * dropped and watched again. Default: $EVENT_XMLRPC_WATCH_SILENCE_TIMEOUT
   * (a duration: 500ms, 5s, 2m; meant for tests) or SILENT_WATCH_MS.
   */
  silentWatchMs?: number;
}

/** Read access to a cache of objects. */
export interface ObjectCache<T> {
  get(namespace: string, name: string): T | undefined;
}

export interface InformerHandlers<T> {
  add?: (obj: T) => void;
  update?: (obj: T, old: T) => void;
  delete?: (obj: T) => void;
}

const MAX_BACKOFF_MS = 30_000;
// Bookmarks arrive about once a minute; a stream silent for longer than this is dead.
const SILENT_WATCH_MS = 150_000;
const WATCH_SILENCE_ENV = 'EVENT_XMLRPC_WATCH_SILENCE_TIMEOUT';

/** SILENT_WATCH_MS, unless $EVENT_XMLRPC_WATCH_SILENCE_TIMEOUT holds a positive duration. */
function defaultSilentWatchMs(): number {
  const ms = parseDuration(process.env[WATCH_SILENCE_ENV] ?? '') ?? 0;
  return ms > 0 ? ms : SILENT_WATCH_MS;
}

/**
 * List, then watch from the list's resourceVersion with bookmarks, keeping a
 * cache of the objects. A 410 Gone relists; other errors back off
 * exponentially with jitter. Handlers run synchronously in event order.
 */
export class Informer<T extends KubeObject> implements ObjectCache<T> {
  private readonly objects = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private resourceVersion = '';
  private abort: AbortController | undefined;
  private stopped = false;
  private failures = 0;
  private readonly pause = new Pause();
  private readonly target: ApiTarget;
  private synced!: () => void;
  readonly hasSynced: Promise<void> = new Promise((resolve) => (this.synced = resolve));
  isSynced = false;

  private readonly transform: (obj: T) => T;

  constructor(private readonly options: InformerOptions<T>) {
    this.transform = options.transform ?? ((obj) => obj);
    this.silentWatchMs = options.silentWatchMs ?? defaultSilentWatchMs();
    this.target = apiTarget(options.kubeConfig);
  }

  private readonly silentWatchMs: number;

  on(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
  }

  get(namespace: string, name: string): T | undefined {
    return this.objects.get(`${namespace}/${name}`);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.pause.cancel();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        const gone = await this.watchOnce();
        if (gone) this.resourceVersion = '';
        this.failures = 0;
      } catch (err) {
        if (this.stopped) return;
        if (statusCode(err) === 410) {
          this.resourceVersion = '';
          continue;
        }
        const delay = backoff(this.failures++);
        const error = explainApiError(err, this.target, { rightsHint: this.options.rightsHint });
        this.options.log.warn(LogMessage.listWatchFailed, { path: this.options.path, error, retryInMs: delay });
        await this.pause.sleep(delay);
      }
    }
  }

  private async relist(): Promise<void> {
    const fresh = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.options.list(continueToken);
      for (const item of page.items) fresh.set(keyOf(item), this.transform(item));
      continueToken = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? '';
    } while (continueToken);

    for (const [key, old] of this.objects) {
      if (!fresh.has(key)) {
        this.objects.delete(key);
        this.emit('delete', old);
      }
    }
    for (const [key, obj] of fresh) this.store(key, obj);
    this.resourceVersion = resourceVersion;
    if (!this.isSynced) {
      this.isSynced = true;
      this.synced();
    }
  }

  /** Resolves when the watch ends; true when the server said our resourceVersion is gone. */
  private async watchOnce(): Promise<boolean> {
    const minSeconds = this.options.minWatchSeconds ?? 300;
    const timeoutSeconds = Math.floor(minSeconds * (1 + Math.random()));
    const query = new URLSearchParams({ watch: 'true', resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) });
    const abort = new AbortController();
    this.abort = abort;
    if (this.stopped) abort.abort();
    let gone = false;
    let failed: Error | undefined;
    const onEvent = (type: string, object: unknown) => {
      const obj = object as T & { code?: number };
      switch (type) {
        case 'ADDED':
        case 'MODIFIED':
          this.store(keyOf(obj), this.transform(obj));
          break;
        case 'DELETED': {
          const key = keyOf(obj);
          this.objects.delete(key);
          this.emit('delete', this.transform(obj));
          break;
        }
        case 'BOOKMARK':
          break;
        case 'ERROR':
          if (obj.code === 410) gone = true;
          else failed = Object.assign(new Error(`watch error: ${JSON.stringify(obj)}`), { statusCode: obj.code });
          abort.abort();
          return;
      }
      const rv = obj.metadata?.resourceVersion;
      if (rv) this.resourceVersion = rv;
    };
    try {
      await this.options.kubeConfig.watch(`${this.options.path}?${query}`, onEvent, { signal: abort.signal, silenceMs: this.silentWatchMs });
    } catch (err) {
      if (!isTimeout(err)) throw err;
    }
    if (failed) throw failed;
    return gone;
  }

  private store(key: string, obj: T): void {
    const old = this.objects.get(key);
    this.objects.set(key, obj);
    if (!old) this.emit('add', obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', obj, old);
  }

  private emit(kind: 'add' | 'delete', obj: T): void;
  private emit(kind: 'update', obj: T, old: T): void;
  private emit(kind: keyof InformerHandlers<T>, obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        if (kind === 'update') h.update?.(obj, old!);
        else h[kind]?.(obj);
      } catch (err) {
        this.options.log.error('informer handler failed', { namespace: obj.metadata?.namespace, name: obj.metadata?.name, error: errorText(err) });
      }
    }
  }
}

export function keyOf(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}


function backoff(failures: number): number {
  const base = Math.min(1000 * 2 ** failures, MAX_BACKOFF_MS);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

function isTimeout(err: unknown): boolean {
  return (err as { name?: string })?.name === 'TimeoutError';
}

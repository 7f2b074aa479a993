import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { eventName } from '../core/event-name.js';
import { microTime } from '../core/lease.js';
import { truncateUtf8 } from '../core/text.js';
import { errorText } from './errors.js';

export interface ObjectReference {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

interface Series {
  eventName: string;
  namespace: string;
  count: number;
  startedAt: number;
  lastObserved: number;
  patchedCount: number;
  timer?: NodeJS.Timeout;
}

export const REPORTING_CONTROLLER = 'eventxmlrpc.io/operator';
/** Repeats of one (object, reason) within this window update one Event instead of creating another. */
const SERIES_WINDOW_MS = 10 * 60_000;
/** A series' count is written at most this often, so a storm of failures costs one PATCH per interval. */
const SERIES_FLUSH_MS = 30_000;
/** The API server refuses an Event whose note is longer (bytes, not characters). */
const NOTE_MAX_BYTES = 1024;

/**
 * Kubernetes Events (events.k8s.io/v1) about the operator's objects, for what
 * a person must act on. Repeats are aggregated the way client-go does it: the
 * first occurrence creates an Event, later ones become its `series` count.
 */
export class EventRecorder {
  private readonly api: EventsV1Api;
  private readonly series = new Map<string, Series>();
  private readonly instance = process.env.POD_NAME ?? os.hostname();

  constructor(
    kubeConfig: KubeConfig,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.api = kubeConfig.makeApiClient(EventsV1Api);
  }

  warning(regarding: ObjectReference, reason: string, action: string, note: string): void {
    void this.record(regarding, reason, action, note).catch((err: unknown) =>
      this.log.warn('could not record a Kubernetes Event', {
        namespace: regarding.namespace,
        name: regarding.name,
        reason,
        error: errorText(err),
      }),
    );
  }

  /** Writes the counts of every open series; for a clean stop. */
  async flush(): Promise<void> {
    await Promise.all([...this.series.values()].map((s) => this.writeSeries(s)));
  }

  private async record(regarding: ObjectReference, reason: string, action: string, note: string): Promise<void> {
    const key = `${regarding.uid}/${reason}`;
    const now = this.now().getTime();
    const open = this.series.get(key);
    if (open && now - open.startedAt < SERIES_WINDOW_MS) {
      open.count++;
      open.lastObserved = now;
      open.timer ??= setTimeout(() => void this.writeSeries(open), SERIES_FLUSH_MS).unref();
      return;
    }
    if (open) void this.writeSeries(open); // the old series keeps the count it reached
    const name = eventName(regarding.name, randomBytes(8).toString('hex'));
    this.series.set(key, { eventName: name, namespace: regarding.namespace, count: 1, startedAt: now, lastObserved: now, patchedCount: 1 });
    this.prune(now);
    await this.create(key, {
      namespace: regarding.namespace,
      body: {
        metadata: { name, namespace: regarding.namespace },
        eventTime: microTime(new Date(now)) as unknown as Date,
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: this.instance,
        action,
        reason,
        type: 'Warning',
        note: truncateUtf8(note, NOTE_MAX_BYTES),
        regarding,
      },
    });
  }

  /** Creates the Event of a new series; a series whose Event could not be created is dropped. */
  private async create(key: string, body: Parameters<EventsV1Api['createNamespacedEvent']>[0]): Promise<void> {
    try {
      await this.api.createNamespacedEvent(body);
    } catch (err) {
      this.series.delete(key);
      throw err;
    }
  }

  private async writeSeries(series: Series): Promise<void> {
    if (series.timer) clearTimeout(series.timer);
    series.timer = undefined;
    if (series.count === series.patchedCount) return;
    const count = series.count;
    await this.api
      .patchNamespacedEvent({
        name: series.eventName,
        namespace: series.namespace,
        body: [{ op: 'add', path: '/series', value: { count, lastObservedTime: microTime(new Date(series.lastObserved)) } }],
      })
      .then(
        () => (series.patchedCount = count),
        (err: unknown) => this.log.warn('could not update a Kubernetes Event series', { name: series.eventName, error: errorText(err) }),
      );
  }

  private prune(now: number): void {
    for (const [key, s] of this.series) {
      if (now - s.startedAt >= SERIES_WINDOW_MS && !s.timer) this.series.delete(key);
    }
  }
}

// The informer against the real apiserver: watch events in order, a relist
// when the apiserver answers 410 Gone, and retries when listing fails.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import winston from 'winston';
import { SUBSCRIBERS, type Subscriber } from '../../src/api/types.js';
import { cachedSubscriber } from '../../src/core/cache-transform.js';
import { ApiClient, collectionPath } from '../../src/kube/api-client.js';
import { Informer, type ObjectList } from '../../src/kube/informer.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { createSubscriber, waitFor } from '../support/objects.js';

const log = winston.createLogger({ level: 'error', transports: [new winston.transports.Console()] });

function informerFor(
  namespace: string,
  list: (api: ApiClient, page: string | undefined) => Promise<ObjectList<Subscriber>>,
  transform?: (s: Subscriber) => Subscriber,
) {
  const api = new ApiClient(testCluster().admin);
  return new Informer<Subscriber>({
    kubeConfig: api.kubeConfig,
    path: collectionPath(SUBSCRIBERS, namespace),
    list: (page) => list(api, page),
    log,
    transform,
  });
}

const names = (informer: Informer<Subscriber>) => informer.list().map((s) => s.metadata.name).sort();

describe('Informer', () => {
  it('lists, then follows adds, updates and deletes through the watch', async () => {
    const namespace = await newNamespace('informer');
    await createSubscriber(namespace, 'before', { event: 'E', socket: 'xmlrpc:h:1:m' });
    const informer = informerFor(namespace, (api, page) => api.list(SUBSCRIBERS, namespace, page));
    const seen: string[] = [];
    informer.on({
      add: (s) => seen.push(`add ${s.metadata.name}`),
      update: (s) => seen.push(`update ${s.metadata.name}`),
      delete: (s) => seen.push(`delete ${s.metadata.name}`),
    });
    informer.start();
    try {
      await informer.hasSynced;
      assert.deepEqual(names(informer), ['before']);
      await createSubscriber(namespace, 'after', { event: 'E', socket: 'xmlrpc:h:1:m' });
      const api = new ApiClient(testCluster().admin);
      const obj = informer.get(namespace, 'before')!;
      await api.replaceStatus(SUBSCRIBERS, obj, { observedGeneration: 1 });
      await waitFor(async () => seen, (s) => (s.length >= 3 ? s : undefined), 10_000);
      assert.deepEqual(seen, ['add before', 'add after', 'update before']);
      assert.equal(informer.get(namespace, 'before')?.status?.observedGeneration, 1);
    } finally {
      informer.stop();
    }
  });

  it('keeps and hands to its handlers what the transform returns, for listed and watched objects', async () => {
    const namespace = await newNamespace('informer-transform');
    await createSubscriber(namespace, 'listed', { event: 'E', socket: 'xmlrpc:h:1:m' });
    const informer = informerFor(namespace, (api, page) => api.list(SUBSCRIBERS, namespace, page), cachedSubscriber);
    const handed: Subscriber[] = [];
    informer.on({ add: (s) => handed.push(s) });
    informer.start();
    try {
      await informer.hasSynced;
      await createSubscriber(namespace, 'watched', { event: 'E', socket: 'xmlrpc:h:1:m' });
      await waitFor(async () => handed, (h) => (h.length === 2 ? h : undefined), 10_000);
      const stored = await new ApiClient(testCluster().admin).get<Subscriber>(SUBSCRIBERS, namespace, 'watched');
      assert.ok(stored.metadata.managedFields?.length, 'the apiserver keeps managedFields');
      for (const name of ['listed', 'watched']) {
        assert.equal(informer.get(namespace, name)?.metadata.managedFields, undefined, `${name}: not in the cache`);
        assert.equal(informer.get(namespace, name)?.spec.socket, 'xmlrpc:h:1:m');
      }
      assert.deepEqual(handed, [informer.get(namespace, 'listed'), informer.get(namespace, 'watched')]);
    } finally {
      informer.stop();
    }
  });

  it('relists when the watch answers 410 Gone for a resourceVersion the apiserver no longer has', async () => {
    const namespace = await newNamespace('informer-gone');
    await createSubscriber(namespace, 'existing', { event: 'E', socket: 'xmlrpc:h:1:m' });
    let lists = 0;
    const informer = informerFor(namespace, async (api, page) => {
      lists++;
      // The first list claims a resourceVersion far older than the watch cache holds.
      if (lists === 1) return { items: [], metadata: { resourceVersion: '1' } };
      return api.list(SUBSCRIBERS, namespace, page);
    });
    informer.start();
    try {
      await informer.hasSynced;
      await waitFor(async () => names(informer), (n) => (n.includes('existing') ? n : undefined), 10_000);
      assert.equal(lists, 2, 'one relist after the 410');
    } finally {
      informer.stop();
    }
  });

  it('keeps retrying a failing list with backoff until it succeeds', async () => {
    const namespace = await newNamespace('informer-retry');
    await createSubscriber(namespace, 'late', { event: 'E', socket: 'xmlrpc:h:1:m' });
    const attempts: number[] = [];
    const informer = informerFor(namespace, async (api, page) => {
      attempts.push(Date.now());
      if (attempts.length <= 2) throw Object.assign(new Error('HTTP-Code: 503\nMessage: unavailable'), { code: 503 });
      return api.list(SUBSCRIBERS, namespace, page);
    });
    informer.start();
    try {
      await informer.hasSynced;
      assert.deepEqual(names(informer), ['late']);
      assert.equal(attempts.length, 3);
      // The backoff after failure n is 1s x 2^n, less up to half of it (jitter): at least 500ms, then at least
      // 1000ms. Lower bounds only (a loaded machine can only lengthen a wait), less 100ms for a timer that
      // fires early (its start is the event loop's cached time).
      const [a, b, c] = attempts as [number, number, number];
      assert.ok(b - a >= 500 - 100, `first backoff ${b - a}ms, at least 500ms`);
      assert.ok(c - b >= 1000 - 100, `second backoff ${c - b}ms, at least 1000ms: it doubled`);
    } finally {
      informer.stop();
    }
  });
});

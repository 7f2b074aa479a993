import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Subscriber, SubscriberSpec, SubscriberStatus } from '../../src/api/types.js';
import { SubscriberIndex } from '../../src/core/subscriber-index.js';

const sub = (
  name: string,
  spec: { event: string; socket?: string; useStructParam?: boolean; tls?: SubscriberSpec['tls']; auth?: SubscriberSpec['auth'] },
  more: { namespace?: string; generation?: number; deletionTimestamp?: string; status?: SubscriberStatus } = {},
): Subscriber => ({
  metadata: {
    name,
    namespace: more.namespace ?? 'voip',
    uid: `uid-${name}`,
    generation: more.generation ?? 1,
    ...(more.deletionTimestamp ? { deletionTimestamp: more.deletionTimestamp } : {}),
  },
  spec: { socket: `xmlrpc:${name}.voip.svc:8080:block_ip`, ...spec },
  ...(more.status ? { status: more.status } : {}),
});

const hostNotFound = (observedGeneration: number): SubscriberStatus => ({
  observedGeneration,
  conditions: [
    {
      type: 'Ready',
      status: 'False',
      reason: 'HostNotFound',
      observedGeneration,
      lastTransitionTime: '2026-01-02T03:04:05Z',
      message: 'host does not resolve',
    },
  ],
});

const NOW = Date.parse('2026-01-02T03:04:05Z');

const names = (index: SubscriberIndex, namespace: string, event: string) => index.match(namespace, event, NOW).map((e) => e.name);

describe('SubscriberIndex', () => {
  it('matches by namespace and event only, ordered by name', () => {
    const index = new SubscriberIndex();
    index.upsert(sub('charlie', { event: 'E_PIKE_BLOCKED' }));
    index.upsert(sub('alpha', { event: 'E_PIKE_BLOCKED' }));
    index.upsert(sub('bravo', { event: 'E_PIKE_BLOCKED' }));
    index.upsert(sub('other-event', { event: 'E_DLG_STATE' }));
    index.upsert(sub('other-ns', { event: 'E_PIKE_BLOCKED' }, { namespace: 'sip' }));

    assert.deepEqual(names(index, 'voip', 'E_PIKE_BLOCKED'), ['alpha', 'bravo', 'charlie']);
    assert.deepEqual(names(index, 'voip', 'E_DLG_STATE'), ['other-event']);
    assert.deepEqual(names(index, 'sip', 'E_PIKE_BLOCKED'), ['other-ns']);
    assert.deepEqual(names(index, 'sip', 'E_DLG_STATE'), []);
    assert.deepEqual(names(index, 'voip', 'e_pike_blocked'), [], 'the event is matched exactly, case included');
    assert.deepEqual(names(index, 'nowhere', 'E_PIKE_BLOCKED'), []);
  });

  it('returns the parsed target of each entry', () => {
    const index = new SubscriberIndex();
    index.upsert(sub('a', { event: 'E', socket: 'xmlrpc:[2001:db8::1]:80/x:ns:method' }));
    const [entry] = index.match('voip', 'E', NOW);
    assert.deepEqual(entry, {
      namespace: 'voip',
      name: 'a',
      uid: 'uid-a',
      event: 'E',
      target: { host: '[2001:db8::1]', port: 80, path: '/x', method: 'ns:method', url: 'http://[2001:db8::1]:80/x' },
      useStructParam: undefined,
      delivery: undefined,
      tls: undefined,
      auth: undefined,
      expiresAt: undefined,
    });
  });

  it('gives a TLS subscriber an https:// URL and keeps its tls and auth specs', () => {
    const index = new SubscriberIndex();
    const tls = { enabled: true, caSecretRef: { name: 'ca' } };
    const auth = { bearer: { secretRef: { name: 'token' } } };
    index.upsert(sub('a', { event: 'E', socket: 'xmlrpc:blocker.voip.svc:8443:m', tls, auth }));
    const [entry] = index.match('voip', 'E', NOW);
    assert.equal(entry?.target.url, 'https://blocker.voip.svc:8443/RPC2');
    assert.deepEqual([entry?.tls, entry?.auth], [tls, auth]);
  });

  it('keeps one entry per name: a re-upsert replaces it rather than adding a second', () => {
    const index = new SubscriberIndex();
    index.upsert(sub('a', { event: 'E', socket: 'xmlrpc:old:1:m' }));
    index.upsert(sub('a', { event: 'E', socket: 'xmlrpc:new:2:m' }));
    const matched = index.match('voip', 'E', NOW);
    assert.equal(matched.length, 1);
    assert.equal(matched[0]?.target.url, 'http://new:2/RPC2');
  });

  it('moves an entry when its event changes', () => {
    const index = new SubscriberIndex();
    index.upsert(sub('a', { event: 'E_OLD' }));
    index.upsert(sub('b', { event: 'E_OLD' }));
    index.upsert(sub('a', { event: 'E_NEW' }, { generation: 2 }));
    assert.deepEqual(names(index, 'voip', 'E_OLD'), ['b']);
    assert.deepEqual(names(index, 'voip', 'E_NEW'), ['a']);
    assert.equal(index.get('voip', 'a')?.event, 'E_NEW');
  });

  it('remove drops the entry, leaves the others, and ignores unknown names', () => {
    const index = new SubscriberIndex();
    index.upsert(sub('a', { event: 'E' }));
    index.upsert(sub('b', { event: 'E' }));
    index.upsert(sub('a', { event: 'E' }, { namespace: 'sip' }));
    index.remove('voip', 'a');
    assert.deepEqual(names(index, 'voip', 'E'), ['b']);
    assert.deepEqual(names(index, 'sip', 'E'), ['a'], 'the same name in another namespace is another Subscriber');
    assert.equal(index.get('voip', 'a'), undefined);
    index.remove('voip', 'missing');
    index.remove('voip', 'a');
    assert.deepEqual(names(index, 'voip', 'E'), ['b']);
    index.remove('voip', 'b');
    assert.deepEqual(names(index, 'voip', 'E'), []);
  });

  it('does not match a Subscriber whose socket does not parse, and drops it when an update breaks the socket', () => {
    const index = new SubscriberIndex();
    const bad = ['http://h:80/', 'xmlrpc:h:0:m', 'xmlrpc:h:8090', 'xmlrpc:-bad-:80:m', 'xmlrpc:h:80:a b', ''];
    bad.forEach((socket, i) => index.upsert(sub(`bad-${i}`, { event: 'E', socket })));
    bad.forEach((_, i) => assert.equal(index.get('voip', `bad-${i}`), undefined));
    assert.deepEqual(names(index, 'voip', 'E'), []);

    index.upsert(sub('a', { event: 'E' }));
    assert.deepEqual(names(index, 'voip', 'E'), ['a']);
    index.upsert(sub('a', { event: 'E', socket: 'xmlrpc:a:65536:m' }, { generation: 2 }));
    assert.deepEqual(names(index, 'voip', 'E'), []);
    assert.equal(index.get('voip', 'a'), undefined);
  });

  it('does not match a Subscriber that is being deleted', () => {
    const index = new SubscriberIndex();
    index.upsert(sub('a', { event: 'E' }));
    index.upsert(sub('a', { event: 'E' }, { deletionTimestamp: '2026-01-02T03:04:05Z' }));
    index.upsert(sub('b', { event: 'E' }, { deletionTimestamp: '2026-01-02T03:04:05Z' }));
    assert.deepEqual(names(index, 'voip', 'E'), []);
  });

  it('matches a Subscriber before any status is written', () => {
    const index = new SubscriberIndex();
    index.upsert(sub('a', { event: 'E' }));
    assert.deepEqual(names(index, 'voip', 'E'), ['a']);
  });

  it('does not match a Subscriber whose host was found not to resolve for its current generation', () => {
    const index = new SubscriberIndex();
    index.upsert(sub('a', { event: 'E' }));
    index.upsert(sub('a', { event: 'E' }, { generation: 3, status: hostNotFound(3) }));
    assert.deepEqual(names(index, 'voip', 'E'), []);
    assert.equal(index.get('voip', 'a'), undefined);
  });

  it('matches a Subscriber whose HostNotFound is for an older generation (its spec changed since)', () => {
    const index = new SubscriberIndex();
    index.upsert(sub('a', { event: 'E', socket: 'xmlrpc:fixed.voip.svc:8080:m' }, { generation: 4, status: hostNotFound(3) }));
    assert.deepEqual(names(index, 'voip', 'E'), ['a']);
    assert.equal(index.get('voip', 'a')?.target.host, 'fixed.voip.svc');
  });

  it('matches again once the status says Ready for the current generation', () => {
    const index = new SubscriberIndex();
    index.upsert(sub('a', { event: 'E' }, { generation: 3, status: hostNotFound(3) }));
    assert.deepEqual(names(index, 'voip', 'E'), []);
    index.upsert(
      sub(
        'a',
        { event: 'E' },
        {
          generation: 3,
          status: {
            observedGeneration: 3,
            conditions: [
              { type: 'Ready', status: 'True', reason: 'Valid', observedGeneration: 3, lastTransitionTime: '2026-01-02T03:05:00Z', message: 'ok' },
            ],
          },
        },
      ),
    );
    assert.deepEqual(names(index, 'voip', 'E'), ['a']);
  });

  it('passes useStructParam through, undefined when the Subscriber leaves it unset', () => {
    const index = new SubscriberIndex();
    index.upsert(sub('on', { event: 'E', useStructParam: true }));
    index.upsert(sub('off', { event: 'E', useStructParam: false }));
    index.upsert(sub('unset', { event: 'E' }));
    assert.equal(index.get('voip', 'on')?.useStructParam, true);
    assert.equal(index.get('voip', 'off')?.useStructParam, false);
    assert.equal(index.get('voip', 'unset')?.useStructParam, undefined);
    assert.deepEqual(
      index.match('voip', 'E', NOW).map((e) => [e.name, e.useStructParam]),
      [
        ['off', false],
        ['on', true],
        ['unset', undefined],
      ],
    );
  });

  describe('spec.expire', () => {
    const expiring = (expiresAt: string, more: { generation?: number; renewal?: string; annotation?: string } = {}): Subscriber => {
      const s = sub('x', { event: 'E' }, { generation: more.generation ?? 1 });
      s.spec.expire = 60;
      if (more.annotation) s.metadata.annotations = { 'eventxmlrpc.io/renew': more.annotation };
      s.status = { observedGeneration: 1, expiresAt, ...(more.renewal ? { renewal: more.renewal } : {}) };
      return s;
    };

    it('matches until the status says the period ended, not after', () => {
      const index = new SubscriberIndex();
      index.upsert(expiring('2026-01-02T03:04:06Z'));
      assert.deepEqual(names(index, 'voip', 'E'), ['x']);
      assert.deepEqual(index.match('voip', 'E', Date.parse('2026-01-02T03:04:06Z')).map((e) => e.name), []);
    });

    it('ignores an expiry about an older generation or an older renewal', () => {
      const index = new SubscriberIndex();
      index.upsert(expiring('2026-01-01T00:00:00Z', { generation: 2 }));
      assert.deepEqual(names(index, 'voip', 'E'), ['x'], 'spec changed since');
      index.upsert(expiring('2026-01-01T00:00:00Z', { annotation: 'renew-2', renewal: 'renew-1' }));
      assert.deepEqual(names(index, 'voip', 'E'), ['x'], 'renewed since');
      index.upsert(expiring('2026-01-01T00:00:00Z', { annotation: 'renew-1', renewal: 'renew-1' }));
      assert.deepEqual(names(index, 'voip', 'E'), [], 'the status is current: expired');
    });
  });
});

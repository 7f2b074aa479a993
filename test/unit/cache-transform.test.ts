import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventRaise, Subscriber } from '../../src/api/types.js';
import { cachedRaise, cachedSubscriber, isSlimmed } from '../../src/core/cache-transform.js';

const managedFields = [{ manager: 'kubectl', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:event': {} } } }];
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function subscriber(): Subscriber {
  return {
    apiVersion: 'eventxmlrpc.io/v1alpha1',
    kind: 'Subscriber',
    metadata: {
      namespace: 'ns',
      name: 's',
      uid: 'u1',
      resourceVersion: '7',
      generation: 2,
      labels: { team: 'voip' },
      annotations: { 'eventxmlrpc.io/renew': '1', [LAST_APPLIED]: '{"spec":{}}' },
      managedFields,
    },
    spec: { event: 'E', socket: 'xmlrpc:h:1:m', expire: 60 },
    status: { observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True', reason: 'Valid', message: '', lastTransitionTime: 't', observedGeneration: 2 }] },
  };
}

function raise(phase: NonNullable<EventRaise['status']>['phase']): EventRaise {
  return {
    apiVersion: 'eventxmlrpc.io/v1alpha1',
    kind: 'EventRaise',
    metadata: {
      namespace: 'ns',
      name: 'r',
      uid: 'u2',
      resourceVersion: '9',
      generation: 1,
      creationTimestamp: '2030-01-01T00:00:00Z',
      labels: { app: 'x' },
      annotations: { 'eventxmlrpc.io/redeliver': 'v1', other: 'y', [LAST_APPLIED]: '{}' },
      finalizers: ['f'],
      managedFields,
    },
    spec: { event: 'E', params: [{ name: 'ip', string: '10.0.0.1' }], syncMode: true, ttlSecondsAfterFinished: 60 },
    status: {
      observedGeneration: 1,
      phase,
      matched: 2,
      delivered: 1,
      failed: 1,
      startTime: '2030-01-01T00:00:01Z',
      completionTime: '2030-01-01T00:00:02Z',
      redelivered: 'v0',
      deliveries: [{ subscriber: 's', url: 'http://h:1/RPC2', method: 'm', outcome: 'Failed', error: 'refused', attempts: 1, durationMs: 3 }],
      conditions: [{ type: 'Complete', status: 'True', reason: 'PartiallyDelivered', message: '1 of 2', lastTransitionTime: 't', observedGeneration: 1 }],
    },
  };
}

describe('cachedSubscriber', () => {
  it('drops managedFields and the last-applied annotation, and keeps everything else', () => {
    const input = subscriber();
    const cached = cachedSubscriber(input);
    const expected = subscriber();
    delete expected.metadata.managedFields;
    delete expected.metadata.annotations![LAST_APPLIED];
    assert.deepEqual(cached, expected);
    assert.deepEqual(input, subscriber(), 'the input is left as it was');
  });
});

describe('cachedRaise', () => {
  it('keeps a raise that is not terminal whole, but for managedFields and the last-applied annotation', () => {
    for (const phase of [undefined, 'Pending'] as const) {
      const cached = cachedRaise(raise(phase));
      const expected = raise(phase);
      delete expected.metadata.managedFields;
      delete expected.metadata.annotations![LAST_APPLIED];
      assert.deepEqual(cached, expected);
      assert.equal(isSlimmed(cached), false);
    }
  });

  it('keeps of a terminal raise exactly what the doc comment lists', () => {
    for (const phase of ['Dispatched', 'Delivered', 'PartiallyDelivered', 'Failed', 'NoSubscribers'] as const) {
      const input = raise(phase);
      const cached = cachedRaise(input);
      assert.deepEqual(cached, {
        apiVersion: 'eventxmlrpc.io/v1alpha1',
        kind: 'EventRaise',
        metadata: { namespace: 'ns', name: 'r', uid: 'u2', resourceVersion: '9', generation: 1, creationTimestamp: '2030-01-01T00:00:00Z', annotations: { 'eventxmlrpc.io/redeliver': 'v1' } },
        spec: { event: 'E', syncMode: true, ttlSecondsAfterFinished: 60 },
        status: { observedGeneration: 1, phase, matched: 2, delivered: 1, failed: 1, startTime: '2030-01-01T00:00:01Z', completionTime: '2030-01-01T00:00:02Z', redelivered: 'v0' },
      });
      assert.equal(isSlimmed(cached), true, phase);
      assert.deepEqual(input, raise(phase), 'the input is left as it was');
    }
  });

  it('has no empty fields where the raise had none: no annotations, no ttl', () => {
    const input = raise('Delivered');
    delete input.metadata.annotations;
    delete input.spec.ttlSecondsAfterFinished;
    const cached = cachedRaise(input);
    assert.deepEqual(Object.keys(cached.metadata), ['namespace', 'name', 'uid', 'resourceVersion', 'generation', 'creationTimestamp']);
    assert.deepEqual(Object.keys(cached.spec), ['event', 'syncMode']);
  });

  it('marks only the slimmed object itself: a copy of it is not taken for one', () => {
    const cached = cachedRaise(raise('Delivered'));
    assert.equal(isSlimmed({ ...cached }), false);
    assert.equal(JSON.stringify(cached).includes('slim'), false, 'the mark never reaches the wire');
  });
});

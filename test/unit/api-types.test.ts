// The CRD YAML in crds/ is the source of truth for the API; src/api/types.ts
// must follow it. A fully populated example of each kind, type-checked against
// the TS types, is walked against the openAPIV3Schema in both directions:
//  - a key the schema does not declare would be pruned by the apiserver, so the
//    operator would see its own status write "lost" and rewrite it forever;
//  - a schema property no example sets means the TS types lack it (the example
//    is type-checked, so a field the type lacks cannot be added to it).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadAllYaml, type V1CustomResourceDefinition, type V1JSONSchemaProps } from '@kubernetes/client-node';
import type { EventRelay, RelayMode } from '../../src/api/relay-types.js';
import { API_VERSION, VERSION, type EventRaise, type Subscriber } from '../../src/api/types.js';
import { DELIVERY_LIMITS } from '../../src/core/retry-policy.js';

/**
 * loadAllYaml turns each document into the client's typed model, so schema
 * keywords arrive under the model's names (`enum` as `_enum`,
 * `x-kubernetes-preserve-unknown-fields` as `x_kubernetes_preserve_unknown_fields`)
 * except below `items`, which the model types as `any` and leaves as written.
 * The accessors below read both spellings.
 */
type Schema = V1JSONSchemaProps & { enum?: unknown[]; 'x-kubernetes-preserve-unknown-fields'?: boolean };

const crdDir = path.resolve(import.meta.dirname, '../../crds');

function schemaOf(file: string, kind: string): Schema {
  const docs = loadAllYaml(readFileSync(path.join(crdDir, file), 'utf8')) as Array<V1CustomResourceDefinition | null>;
  const crd = docs.find((d) => d?.kind === 'CustomResourceDefinition' && d.spec.names.kind === kind);
  assert.ok(crd, `${file} holds the ${kind} CRD`);
  const version = crd.spec.versions.find((v) => v.name === VERSION);
  assert.ok(version?.schema?.openAPIV3Schema, `${file} serves ${VERSION} with a schema`);
  return version.schema.openAPIV3Schema;
}

const enumOf = (schema: Schema | undefined): unknown[] | undefined => schema?._enum ?? schema?.enum;
const preservesUnknown = (schema: Schema): boolean =>
  schema.x_kubernetes_preserve_unknown_fields === true || schema['x-kubernetes-preserve-unknown-fields'] === true;
const itemsOf = (schema: Schema | undefined): Schema | undefined => schema?.items as Schema | undefined;

// ---- compile-time: the examples set every field the TS types declare ----

/** Every property path of T ("status.deliveries[].httpStatus"), through optional fields, arrays and unions. */
type Paths<T, P extends string = ''> = T extends readonly (infer U)[]
  ? Paths<U, `${P}[]`>
  : T extends object
    ? { [K in keyof T & string]-?: `${P}${P extends '' ? '' : '.'}${K}` | Paths<NonNullable<T[K]>, `${P}${P extends '' ? '' : '.'}${K}`> }[keyof T & string]
    : never;
/** Fails to compile, naming the paths, unless `Missing` is never. */
function assertNoneMissing<Missing extends never>(): void {}

// ---- run time: walking a value against the schema ----

interface Walk {
  /** Keys that the schema does not declare where they appear, and values of the wrong type or outside an enum. */
  problems: string[];
  /** Every property path the value sets. */
  paths: Set<string>;
  /** The paths whose value was checked against an enum. */
  enumChecked: Set<string>;
}

const join = (at: string, key: string) => (at === '' ? key : `${at}.${key}`);

function walk(value: unknown, schema: Schema, out: Walk, at = ''): void {
  const allowed = enumOf(schema);
  if (allowed) {
    out.enumChecked.add(at);
    if (!allowed.includes(value)) out.problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(allowed)}`);
  }
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        out.problems.push(`${at}: expected an object, got ${JSON.stringify(value)}`);
        return;
      }
      const open = preservesUnknown(schema) || schema.additionalProperties !== undefined;
      for (const [key, child] of Object.entries(value)) {
        const where = join(at, key);
        out.paths.add(where);
        const childSchema = schema.properties?.[key];
        if (!childSchema) {
          if (!open) out.problems.push(`${where}: not declared by the schema (the apiserver would prune it)`);
          continue;
        }
        if (where === 'metadata') continue; // ObjectMeta is the apiserver's, out of scope
        walk(child, childSchema, out, where);
      }
      return;
    }
    case 'array':
      if (!Array.isArray(value)) {
        out.problems.push(`${at}: expected an array, got ${JSON.stringify(value)}`);
        return;
      }
      const items = itemsOf(schema);
      for (const item of value) if (items) walk(item, items, out, `${at}[]`);
      return;
    case 'string':
      if (typeof value !== 'string') out.problems.push(`${at}: expected a string, got ${JSON.stringify(value)}`);
      return;
    case 'integer':
      if (!Number.isInteger(value)) out.problems.push(`${at}: expected an integer, got ${JSON.stringify(value)}`);
      return;
    case 'number':
      if (typeof value !== 'number') out.problems.push(`${at}: expected a number, got ${JSON.stringify(value)}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') out.problems.push(`${at}: expected a boolean, got ${JSON.stringify(value)}`);
      return;
  }
}

function walkValue(value: unknown, schema: Schema): Walk {
  const out: Walk = { problems: [], paths: new Set(), enumChecked: new Set() };
  walk(value, schema, out);
  return out;
}

/** Every property path the schema declares below `at`, array items included. */
function declaredPaths(schema: Schema, at: string, into: string[] = []): string[] {
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    const where = join(at, key);
    into.push(where);
    declaredPaths(child, where, into);
    const items = itemsOf(child);
    if (items) declaredPaths(items, `${where}[]`, into);
  }
  return into;
}

function declaredUnderSpecAndStatus(root: Schema): string[] {
  const spec = root.properties?.spec;
  const status = root.properties?.status;
  assert.ok(spec && status, 'the schema declares spec and status');
  return [...declaredPaths(spec, 'spec'), ...declaredPaths(status, 'status')];
}

// ---- the examples ----

const condition = {
  type: 'Ready',
  status: 'True',
  observedGeneration: 2,
  lastTransitionTime: '2026-01-02T03:04:05Z',
  reason: 'Valid',
  message: 'delivering E_PIKE_BLOCKED to block_ip at http://blocker.voip.svc:8080/RPC2',
} as const;

const subscriber = {
  apiVersion: API_VERSION,
  kind: 'Subscriber',
  metadata: { name: 'pike-blocker', namespace: 'voip', generation: 2 },
  spec: {
    event: 'E_PIKE_BLOCKED',
    socket: 'xmlrpc:blocker.voip.svc:8080:block_ip',
    useStructParam: true,
    delivery: {
      timeoutSeconds: 5,
      retry: { limit: 3, backoff: 'exponential', initialDelay: '500ms', maxDelay: '30s' },
      retryOnFaultCodes: [-32000],
      ordered: true,
      keepAlive: true,
    },
    expire: 3600,
    // Not every combination admission accepts (insecureSkipVerify goes with no CA): every field, for the walk.
    tls: {
      enabled: true,
      caSecretRef: { name: 'blocker-ca' },
      serverName: 'blocker.example.com',
      clientCertSecretRef: { name: 'operator-client' },
      insecureSkipVerify: false,
    },
    auth: { basic: { secretRef: { name: 'blocker-basic' } }, bearer: { secretRef: { name: 'blocker-token' } }, headersSecretRef: { name: 'blocker-headers' } },
  },
  status: {
    observedGeneration: 2,
    conditions: [{ ...condition }],
    target: { host: 'blocker.voip.svc', port: 8080, path: '/RPC2', method: 'block_ip', url: 'http://blocker.voip.svc:8080/RPC2' },
    subscribedAt: '2026-01-02T03:00:00Z',
    expiresAt: '2026-01-02T04:00:00Z',
    renewal: '1767322800',
    lastDeliveryTime: '2026-01-02T03:04:05Z',
    lastSuccessTime: '2026-01-02T03:04:00Z',
    lastError: 'HTTP 500 Internal Server Error',
    consecutiveFailures: 1,
  },
} satisfies Subscriber;

const eventRaise = {
  apiVersion: API_VERSION,
  kind: 'EventRaise',
  metadata: { name: 'pike-1', namespace: 'voip', generation: 1 },
  spec: {
    event: 'E_PIKE_BLOCKED',
    params: [
      { name: 'ip', string: '192.168.2.11' },
      { name: 'count', int: 3 },
      { string: 'unnamed' },
    ],
    syncMode: true,
    ttlSecondsAfterFinished: 600,
  },
  status: {
    observedGeneration: 1,
    phase: 'PartiallyDelivered',
    matched: 2,
    delivered: 1,
    failed: 1,
    startTime: '2026-01-02T03:04:00Z',
    completionTime: '2026-01-02T03:04:05Z',
    deliveries: [
      {
        subscriber: 'pike-blocker',
        url: 'http://blocker.voip.svc:8080/RPC2',
        method: 'block_ip',
        outcome: 'Failed',
        httpStatus: 200,
        faultCode: 4,
        faultString: 'Too many parameters',
        error: 'connect ECONNREFUSED 10.0.0.1:8080',
        reason: 'TLSFailed',
        attempts: 1,
        durationMs: 3,
      },
      { subscriber: 'other', url: 'http://other:80/RPC2', method: 'm', outcome: 'Delivered', attempts: 1, durationMs: 2 },
    ],
    redelivered: 'retry-1',
    conditions: [{ ...condition, type: 'Complete', reason: 'PartiallyDelivered', message: '1 of 2 delivered', observedGeneration: 1 }],
  },
} satisfies EventRaise;

const eventRelay = {
  apiVersion: API_VERSION,
  kind: 'EventRelay',
  metadata: { name: 'opensips', namespace: 'voip', generation: 1 },
  spec: { events: ['E_PIKE_BLOCKED', 'E_DLG_STATE_CHANGED'], mode: 'Durable', queueSize: 20000, syncMode: true, ttlSecondsAfterFinished: 300 },
  status: {
    observedGeneration: 1,
    conditions: [{ ...condition, reason: 'Serving', observedGeneration: 1 }],
    path: '/relay/voip/opensips/m5nmZZtVNNnLAJMCe5N74oglX3ClVQqK',
    socket: 'xmlrpc:event-xmlrpc-operator-relay.event-xmlrpc-system.svc:8091/relay/voip/opensips/m5nmZZtVNNnLAJMCe5N74oglX3ClVQqK:relay',
    received: 12,
    accepted: 9,
    refused: 2,
    dropped: 1,
    delivered: 18,
    failed: 0,
    lastEventTime: '2026-01-02T03:04:05Z',
  },
} satisfies EventRelay;

// `satisfies` type-checks the literals against the TS types (excess keys included) while keeping
// their own key sets, so the compiler can tell whether they leave any declared field out.
assertNoneMissing<Exclude<Paths<Omit<Subscriber, 'metadata'>>, Paths<Omit<typeof subscriber, 'metadata'>>>>();
assertNoneMissing<Exclude<Paths<Omit<EventRaise, 'metadata'>>, Paths<Omit<typeof eventRaise, 'metadata'>>>>();
assertNoneMissing<Exclude<Paths<Omit<EventRelay, 'metadata'>>, Paths<Omit<typeof eventRelay, 'metadata'>>>>();

const kinds: Array<{ kind: string; file: string; example: Subscriber | EventRaise | EventRelay; enums: string[] }> = [
  { kind: 'EventRelay', file: 'eventrelays.eventxmlrpc.io.yaml', example: eventRelay, enums: ['spec.mode', 'status.conditions[].status'] },
  { kind: 'Subscriber', file: 'subscribers.eventxmlrpc.io.yaml', example: subscriber, enums: ['spec.delivery.retry.backoff', 'status.conditions[].status'] },
  {
    kind: 'EventRaise',
    file: 'eventraises.eventxmlrpc.io.yaml',
    example: eventRaise,
    enums: ['status.phase', 'status.deliveries[].outcome', 'status.conditions[].status'],
  },
];

describe('src/api/types.ts follows the CRD schemas', () => {
  for (const { kind, file, example, enums } of kinds) {
    describe(kind, () => {
      const schema = schemaOf(file, kind);

      it('every key of the fully populated example is a property the schema declares there, of the declared type', () => {
        const { problems } = walkValue(example, schema);
        assert.deepEqual(problems, []);
      });

      it('every property the schema declares under spec and status is set by the example (so the TS types have it)', () => {
        const { paths } = walkValue(example, schema);
        const missing = declaredUnderSpecAndStatus(schema).filter((p) => !paths.has(p));
        assert.deepEqual(missing, []);
      });

      it('the enum values the example uses are in the schema enums', () => {
        const { problems, enumChecked } = walkValue(example, schema);
        assert.deepEqual([...enumChecked].sort(), [...enums].sort(), 'the schema declares enums exactly there');
        assert.deepEqual(problems.filter((p) => p.includes('is not one of')), []);
      });
    });
  }

  it('the enum types of the TS types are exactly the schema enums', () => {
    const raise = schemaOf('eventraises.eventxmlrpc.io.yaml', 'EventRaise');
    const status = raise.properties?.status?.properties;
    // Each list is typed with the TS union, and the Record keys force it to name every member.
    const phases: Record<NonNullable<NonNullable<EventRaise['status']>['phase']>, true> = {
      Pending: true,
      Dispatched: true,
      Delivered: true,
      PartiallyDelivered: true,
      Failed: true,
      NoSubscribers: true,
    };
    const outcomes: Record<NonNullable<NonNullable<EventRaise['status']>['deliveries']>[number]['outcome'], true> = {
      Delivered: true,
      Failed: true,
    };
    const conditionStatuses: Record<NonNullable<NonNullable<Subscriber['status']>['conditions']>[number]['status'], true> = {
      True: true,
      False: true,
      Unknown: true,
    };
    assert.deepEqual(Object.keys(phases).sort(), [...(enumOf(status?.phase) ?? [])].sort());
    assert.deepEqual(Object.keys(outcomes).sort(), [...(enumOf(itemsOf(status?.deliveries)?.properties?.outcome) ?? [])].sort());
    const modes: Record<RelayMode, true> = { Memory: true, Durable: true };
    assert.deepEqual(Object.keys(modes).sort(), [...(enumOf(schemaOf('eventrelays.eventxmlrpc.io.yaml', 'EventRelay').properties?.spec?.properties?.mode) ?? [])].sort());
    for (const [file, kind] of [
      ['eventraises.eventxmlrpc.io.yaml', 'EventRaise'],
      ['subscribers.eventxmlrpc.io.yaml', 'Subscriber'],
      ['eventrelays.eventxmlrpc.io.yaml', 'EventRelay'],
    ] as const) {
      const enumValues = enumOf(itemsOf(schemaOf(file, kind).properties?.status?.properties?.conditions)?.properties?.status);
      assert.deepEqual(Object.keys(conditionStatuses).sort(), [...(enumValues ?? [])].sort(), kind);
    }
  });

  it('the maxima of spec.delivery are the limits the code holds objects and flags to', () => {
    const delivery = schemaOf('subscribers.eventxmlrpc.io.yaml', 'Subscriber').properties?.spec?.properties?.delivery?.properties;
    const retry = delivery?.retry?.properties;
    assert.equal(delivery?.timeoutSeconds?.maximum, DELIVERY_LIMITS.timeoutSeconds);
    assert.equal(retry?.limit?.maximum, DELIVERY_LIMITS.retryLimit);
    for (const field of ['initialDelay', 'maxDelay'] as const) {
      const rules: Array<{ rule: string; message?: string }> = retry?.[field]?.x_kubernetes_validations ?? [];
      assert.equal(rules.length, 1, field);
      assert.ok(rules[0]!.rule.includes(`<= ${DELIVERY_LIMITS.retryDelayMs}.0`), rules[0]!.rule);
      assert.equal(rules[0]!.message, `${field} must be at most ${DELIVERY_LIMITS.retryDelayMs / 60_000}m`);
    }
  });

  it('the checks catch an undeclared key, a wrong type, a value outside an enum and a missing field', () => {
    const schema = schemaOf('eventraises.eventxmlrpc.io.yaml', 'EventRaise');
    const broken: unknown = {
      ...eventRaise,
      spec: { ...eventRaise.spec, extra: 1 },
      status: { ...eventRaise.status, phase: 'Done', matched: '2', deliveries: [{ ...eventRaise.status.deliveries[1], retries: 0 }] },
    };
    const { problems, paths } = walkValue(broken, schema);
    assert.deepEqual(problems.sort(), [
      'spec.extra: not declared by the schema (the apiserver would prune it)',
      'status.deliveries[].retries: not declared by the schema (the apiserver would prune it)',
      'status.matched: expected an integer, got "2"',
      'status.phase: "Done" is not one of ["Pending","Dispatched","Delivered","PartiallyDelivered","Failed","NoSubscribers"]',
    ]);
    const missing = declaredUnderSpecAndStatus(schema).filter((p) => !paths.has(p));
    assert.deepEqual(missing, ['status.deliveries[].httpStatus', 'status.deliveries[].faultCode', 'status.deliveries[].faultString', 'status.deliveries[].error', 'status.deliveries[].reason']);
  });
});

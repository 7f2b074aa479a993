// Admission: what the CRD schemas in crds/ (OpenAPI keywords and CEL rules)
// refuse at create/update time, and the message each refusal carries. Runs
// against the real kube-apiserver that the runner started with crds/ installed.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { newNamespace, testCluster } from '../support/cluster.js';

const group = 'eventxmlrpc.io';
const version = 'v1alpha1';
const apiVersion = `${group}/${version}`;

// The messages of the CEL rules in crds/ (kept in step with the YAML).
const MSG = {
  scheme: "socket must start with 'xmlrpc:' (the scheme is case-sensitive)",
  url: 'socket is not a URL: write xmlrpc:HOST:PORT[PATH]:METHOD, e.g. xmlrpc:blocker.voip.svc:8080/RPC2:block_ip',
  shape: 'socket must be xmlrpc:HOST:PORT[PATH]:METHOD',
  host: 'socket host must be a DNS name, a dotted IPv4 address or an IPv6 literal in [brackets]',
  numericHost:
    'socket host is a number in another base or form: an IPv4 address is written in dotted decimal (four numbers 0..255 without leading zeros), ' +
    'and no label of a DNS name is a number (all digits, or 0x and hex digits): 0x7f.0.0.1, 0177.0.0.1 and 2130706433 are refused',
  port: 'socket port must be a decimal number 1..65535 without leading zeros',
  path: "socket path must start with '/' and contain no ':', whitespace or non-ASCII characters",
  method: 'socket method must be 1+ characters of A-Z a-z 0-9 _ . : /',
  oneOf: "each param must set exactly one of 'string' or 'int'",
  xmlChar: 'param string must not contain characters XML 1.0 forbids',
  sizeCap: 'params exceed the 65536-byte limit',
  immutable: 'spec is immutable: create a new EventRaise to raise the event again',
  initialDelayMax: 'initialDelay must be at most 10m',
  maxDelayMax: 'maxDelay must be at most 10m',
  // OpenAPI keyword messages (the apiserver's wording).
  eventPattern: "should match '^[A-Za-z0-9_.-]{1,64}$'",
  tooLong64: 'Too long: may not be more than 64',
  intMax: 'should be less than or equal to 2147483647',
  intMin: 'should be greater than or equal to -2147483648',
} as const;

let api: CustomObjectsApi;
let namespace: string;

before(async () => {
  const { admin } = await testCluster();
  api = admin.makeApiClient(CustomObjectsApi);
  namespace = await newNamespace('admission');
});

type Obj = Record<string, unknown>;

function subscriber(spec: Obj): Obj {
  return { apiVersion, kind: 'Subscriber', metadata: { generateName: 'sub-' }, spec };
}

function eventRaise(spec: Obj): Obj {
  return { apiVersion, kind: 'EventRaise', metadata: { generateName: 'raise-' }, spec };
}

function plural(body: Obj): string {
  return body.kind === 'Subscriber' ? 'subscribers' : 'eventraises';
}

async function create(body: Obj): Promise<Obj> {
  return (await api.createNamespacedCustomObject({ group, version, namespace, plural: plural(body), body })) as Obj;
}

/** The HTTP status and metav1.Status message of a refused call (fails the test if the call succeeded). */
async function refusal(call: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    const message = (body as { message?: unknown } | undefined)?.message;
    return { code: err.code, message: typeof message === 'string' ? message : '' };
  }
  assert.fail('expected the apiserver to refuse the request');
}

/** Asserts a 422 whose message contains every expected rule message. */
async function assertInvalid(call: Promise<unknown>, expected: string | string[]): Promise<void> {
  const { code, message } = await refusal(call);
  assert.equal(code, 422, `HTTP status (message: ${message})`);
  for (const part of typeof expected === 'string' ? [expected] : expected) {
    assert.ok(message.includes(part), `expected the message to contain ${JSON.stringify(part)}, got ${JSON.stringify(message)}`);
  }
}

const ACCEPTED_SOCKETS = [
  'xmlrpc:127.0.0.1:8090:ev_cb',
  'xmlrpc:blocker.voip.svc:8080:block_ip',
  'xmlrpc:127.0.0.1:8090/my/rpc/path:ev_cb',
  'xmlrpc:[::1]:8080:m',
  'xmlrpc:[2001:db8::1]:80/RPC2:ns:method',
  'xmlrpc:localhost:65535:a.b/c',
  // Path /p, method a:m: the method is everything after the colon that ends the port/path field.
  'xmlrpc:h:8090/p:a:m',
  'xmlrpc:h:1:m',
  // Labels that start with a digit or 0x but are not numbers.
  'xmlrpc:1e100.net:80:m',
  'xmlrpc:0xcafe-api.example:80:m',
];

test('valid sockets are accepted and stored as written', async (t) => {
  for (const socket of ACCEPTED_SOCKETS) {
    await t.test(socket, async () => {
      const created = await create(subscriber({ event: 'E_PIKE_BLOCKED', socket }));
      assert.equal((created.spec as Obj).socket, socket);
    });
  }
});

const REJECTED_SOCKETS: Array<[socket: string, message: string | string[]]> = [
  ['XMLRPC:h:1:m', MSG.scheme],
  ['http://h:80/RPC2', MSG.url],
  ['xmlrpc://host:8080/RPC2:m', 'socket is not a URL: write xmlrpc:host:8080/RPC2:m, without "//"'],
  ['xmlrpc:h:8090', MSG.shape],
  // Unclosed bracket: no HOST token can be found, and '[' is no host.
  ['xmlrpc:[::1:8090:m', [MSG.shape, MSG.host]],
  ['xmlrpc:h:73626:m', MSG.port],
  ['xmlrpc:h:08090:m', MSG.port],
  ['xmlrpc:h:0:m', MSG.port],
  ['xmlrpc:h:65536:m', MSG.port],
  ['xmlrpc:h:abc:m', MSG.port],
  ['xmlrpc::8090:m', MSG.host],
  // Unbracketed IPv6: the host is the empty text before the first ':' (the port field is empty too).
  ['xmlrpc:::1:8090:m', [MSG.host, MSG.port]],
  ['xmlrpc:[::ffff:1.2.3.4]:80:m', MSG.host],
  ['xmlrpc:-bad-.com:80:m', MSG.host],
  ['xmlrpc:999.1.1.1:80:m', MSG.numericHost],
  // Numbers in other bases or forms, which URL parsers and inet_aton read as 127.0.0.1.
  ['xmlrpc:0x7f.0.0.1:80:m', MSG.numericHost],
  ['xmlrpc:0177.0.0.1:80:m', MSG.numericHost],
  ['xmlrpc:2130706433:80:m', MSG.numericHost],
  ['xmlrpc:0x7f000001:80:m', MSG.numericHost],
  ['xmlrpc:127.1:80:m', MSG.numericHost],
  ['xmlrpc:host.123:80:m', MSG.numericHost],
  ['xmlrpc:10.example.com:80:m', MSG.numericHost],
  // IPv4-mapped IPv6 in either spelling (CEL isIP() refuses both).
  ['xmlrpc:[::ffff:127.0.0.1]:80:m', MSG.host],
  ['xmlrpc:[::ffff:7f00:1]:80:m', MSG.host],
  ['xmlrpc:[1.2.3.4]:80:m', MSG.host],
  [`xmlrpc:${'a'.repeat(64)}.svc:80:m`, MSG.host],
  ['xmlrpc:h:80path:m', MSG.path],
  ['xmlrpc:h:80/a b:m', MSG.path],
  ['xmlrpc:h:8090:', MSG.method],
  ['xmlrpc:h:8090:a b', MSG.method],
  ['xmlrpc:h:8090:a<b>&c', MSG.method],
];

test('invalid sockets are refused with the rule they break', async (t) => {
  for (const [socket, message] of REJECTED_SOCKETS) {
    await t.test(socket, () => assertInvalid(create(subscriber({ event: 'E_PIKE_BLOCKED', socket })), message));
  }
});

test('a socket written as a URL is refused once, with the form it should have', async (t) => {
  for (const [socket, expected] of [
    ['xmlrpc://host:8080/RPC2:m', 'socket is not a URL: write xmlrpc:host:8080/RPC2:m, without "//"'],
    ['xmlrpc://[::1]:80:m', 'socket is not a URL: write xmlrpc:[::1]:80:m, without "//"'],
    ['https://blocker:8443/RPC2', MSG.url],
  ] as const) {
    await t.test(socket, async () => {
      const { code, message } = await refusal(create(subscriber({ event: 'E_PIKE_BLOCKED', socket })));
      assert.equal(code, 422, message);
      assert.ok(message.endsWith(`spec.socket: Invalid value: ${JSON.stringify(socket)}: ${expected}`), message);
      assert.equal(message.split('spec.socket').length, 2, `one error about the socket, not more: ${message}`);
    });
  }
});

test('invalid event names are refused', async (t) => {
  const cases: Array<[name: string, event: string, message: string]> = [
    ['space', 'E PIKE', MSG.eventPattern],
    ['65 chars', 'E'.repeat(65), MSG.tooLong64],
    ['xml special', 'E<PIKE>', MSG.eventPattern],
  ];
  for (const [name, event, message] of cases) {
    await t.test(`Subscriber: ${name}`, () => assertInvalid(create(subscriber({ event, socket: 'xmlrpc:h:1:m' })), message));
    await t.test(`EventRaise: ${name}`, () => assertInvalid(create(eventRaise({ event })), message));
  }
});

test('a valid EventRaise is accepted', async () => {
  const params = [
    { name: 'ip', string: '192.168.2.11' },
    { name: 'count', int: 3 },
    { string: 'unnamed' },
    { name: 'min', int: -2147483648 },
    { name: 'max', int: 2147483647 },
    { name: 'text', string: 'tab\there\nlf\rcr <&> "q" é €' },
  ];
  const created = await create(eventRaise({ event: 'E_PIKE_BLOCKED', params, syncMode: true }));
  assert.deepEqual((created.spec as Obj).params, params);
});

test('params totalling exactly 65536 bytes are accepted', async () => {
  await create(eventRaise({ event: 'E_BIG', params: Array.from({ length: 8 }, () => ({ string: 'x'.repeat(8192) })) }));
});

const REJECTED_PARAMS: Array<[name: string, params: Obj[], message: string]> = [
  ['both string and int', [{ name: 'x', string: 'a', int: 1 }], MSG.oneOf],
  ['neither string nor int', [{ name: 'x' }], MSG.oneOf],
  ['int above int32', [{ int: 2147483648 }], MSG.intMax],
  ['int below int32', [{ int: -2147483649 }], MSG.intMin],
  ['string with U+0001', [{ string: 'a\u0001b' }], MSG.xmlChar],
  ['string with NUL', [{ string: 'a\u0000b' }], MSG.xmlChar],
  ['string with U+FFFE', [{ string: 'a\uFFFEb' }], MSG.xmlChar],
  ['bad param name', [{ name: 'a b', int: 1 }], MSG.eventPattern],
  ['65537 bytes in total', [...Array.from({ length: 8 }, () => ({ string: 'x'.repeat(8192) })), { string: 'y' }], MSG.sizeCap],
  // 5 x 8192 characters of 2 UTF-8 bytes each: within maxLength (characters), over the byte cap.
  ['multi-byte strings over the byte cap', Array.from({ length: 5 }, () => ({ string: 'é'.repeat(8192) })), MSG.sizeCap],
];

test('invalid params are refused with the rule they break', async (t) => {
  for (const [name, params, message] of REJECTED_PARAMS) {
    await t.test(name, () => assertInvalid(create(eventRaise({ event: 'E_PIKE_BLOCKED', params })), message));
  }
});

test('an EventRaise spec is immutable', async (t) => {
  const created = await create(eventRaise({ event: 'E_PIKE_BLOCKED', params: [{ name: 'ip', string: '10.0.0.1' }] }));
  const name = (created.metadata as { name: string }).name;
  const ref = { group, version, namespace, plural: 'eventraises', name };

  await t.test('replace with a changed spec', async () => {
    const current = (await api.getNamespacedCustomObject(ref)) as Obj;
    const body = { ...current, spec: { ...(current.spec as Obj), event: 'E_OTHER' } };
    await assertInvalid(api.replaceNamespacedCustomObject({ ...ref, body }), MSG.immutable);
  });

  await t.test('merge patch of spec', () =>
    assertInvalid(
      api.patchNamespacedCustomObject({ ...ref, body: { spec: { syncMode: true } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
      MSG.immutable,
    ),
  );

  await t.test('JSON patch of spec.params', () =>
    assertInvalid(
      api.patchNamespacedCustomObject(
        { ...ref, body: [{ op: 'replace', path: '/spec/params/0/string', value: '10.0.0.2' }] },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      ),
      MSG.immutable,
    ),
  );

  await t.test('metadata changes are still allowed', async () => {
    const patched = (await api.patchNamespacedCustomObject(
      { ...ref, body: { metadata: { labels: { seen: 'yes' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as Obj;
    assert.equal((patched.metadata as { labels?: Record<string, string> }).labels?.seen, 'yes');
    assert.equal(((patched.spec as Obj).params as Obj[])[0]?.string, '10.0.0.1');
  });
});

test('a Subscriber socket is validated on update too', async () => {
  const created = await create(subscriber({ event: 'E_PIKE_BLOCKED', socket: 'xmlrpc:h:8080:m' }));
  const name = (created.metadata as { name: string }).name;
  await assertInvalid(
    api.patchNamespacedCustomObject(
      { group, version, namespace, plural: 'subscribers', name, body: { spec: { socket: 'xmlrpc:h:0:m' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    ),
    MSG.port,
  );
});

test('delivery durations and counts up to their limits are accepted', async (t) => {
  const accepted: Obj[] = [
    { timeoutSeconds: 300 },
    { retry: { limit: 100 } },
    { retry: { initialDelay: '10m', maxDelay: '10m' } },
    { retry: { initialDelay: '600s', maxDelay: '600000ms' } },
    { retry: { initialDelay: '9.99m', maxDelay: '0.5s' } },
  ];
  for (const delivery of accepted) {
    await t.test(JSON.stringify(delivery), async () => {
      const created = await create(subscriber({ event: 'E_PIKE_BLOCKED', socket: 'xmlrpc:h:1:m', delivery }));
      assert.deepEqual((created.spec as Obj).delivery, delivery);
    });
  }
});

test('delivery durations and counts over their limits are refused, naming the limit', async (t) => {
  const refused: Array<[Obj, string]> = [
    [{ timeoutSeconds: 301 }, 'should be less than or equal to 300'],
    [{ timeoutSeconds: 3600 }, 'should be less than or equal to 300'],
    [{ retry: { limit: 101 } }, 'should be less than or equal to 100'],
    [{ retry: { initialDelay: '10.01m' } }, MSG.initialDelayMax],
    [{ retry: { initialDelay: '601s' } }, MSG.initialDelayMax],
    [{ retry: { initialDelay: '600001ms' } }, MSG.initialDelayMax],
    [{ retry: { maxDelay: '99999m' } }, MSG.maxDelayMax],
    [{ retry: { maxDelay: '35000m' } }, MSG.maxDelayMax],
    // Too many digits for a duration in nanoseconds: refused by the same rule, not by an overflow.
    [{ retry: { maxDelay: '9999999999999m' } }, MSG.maxDelayMax],
  ];
  for (const [delivery, message] of refused) {
    await t.test(JSON.stringify(delivery), () => assertInvalid(create(subscriber({ event: 'E_PIKE_BLOCKED', socket: 'xmlrpc:h:1:m', delivery })), message));
  }
});

test('spec.tls and spec.auth: what they accept, and what they refuse with the rule', async (t) => {
  const accepted: Obj[] = [
    { tls: { enabled: true } },
    { tls: { enabled: true, caSecretRef: { name: 'blocker-ca' }, serverName: 'blocker.voip.example', clientCertSecretRef: { name: 'operator-client' } } },
    { tls: { enabled: true, insecureSkipVerify: true } },
    { tls: { enabled: false } },
    { auth: { basic: { secretRef: { name: 'blocker-basic' } }, headersSecretRef: { name: 'blocker-headers' } } },
    { auth: { bearer: { secretRef: { name: 'blocker-token' } } } },
  ];
  for (const spec of accepted) {
    await t.test(`accepts ${JSON.stringify(spec)}`, async () => {
      const created = await create(subscriber({ event: 'E_PIKE_BLOCKED', socket: 'xmlrpc:h:1:m', ...spec }));
      for (const key of Object.keys(spec)) assert.deepEqual((created.spec as Obj)[key], spec[key]);
    });
  }
  const refused: Array<[Obj, string]> = [
    [{ tls: { caSecretRef: { name: 'ca' } } }, 'tls.caSecretRef, serverName, clientCertSecretRef and insecureSkipVerify need tls.enabled: true'],
    [{ tls: { enabled: false, serverName: 'x.example' } }, 'tls.caSecretRef, serverName, clientCertSecretRef and insecureSkipVerify need tls.enabled: true'],
    [{ tls: { enabled: true, insecureSkipVerify: true, caSecretRef: { name: 'ca' } } }, 'tls.insecureSkipVerify checks no certificate: it cannot go with caSecretRef or serverName'],
    [{ tls: { enabled: true, serverName: 'not a name' } }, 'spec.tls.serverName: Invalid value'],
    [{ tls: { enabled: true, caSecretRef: { name: 'Not_A_Secret' } } }, 'spec.tls.caSecretRef.name: Invalid value'],
    [{ auth: { basic: { secretRef: { name: 'a' } }, bearer: { secretRef: { name: 'b' } } } }, 'auth takes basic or bearer, not both'],
    [{ auth: { bearer: {} } }, 'spec.auth.bearer.secretRef: Required value'],
  ];
  for (const [spec, message] of refused) {
    await t.test(`refuses ${JSON.stringify(spec)}`, () => assertInvalid(create(subscriber({ event: 'E_PIKE_BLOCKED', socket: 'xmlrpc:h:1:m', ...spec })), message));
  }
});

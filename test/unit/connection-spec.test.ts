import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { grantCommands, planConnection, secretUses, type SecretAnswer } from '../../src/core/connection-spec.js';

const where = { namespace: 'voip', subscriber: 'blocker' };
const found = (data: Record<string, string>): SecretAnswer => ({ kind: 'found', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])) });
const secrets = (entries: Record<string, SecretAnswer>) => new Map(Object.entries(entries));

describe('planConnection', () => {
  it('needs no Secret without tls and auth, and sends nothing extra', () => {
    assert.deepEqual(secretUses({}), []);
    assert.deepEqual(planConnection({}, secrets({}), where), { ok: true, plan: { headers: [] } });
  });

  it('builds TLS options and credential headers from the Secrets, without a trailing line break', () => {
    const spec = {
      tls: { enabled: true, caSecretRef: { name: 'ca' }, clientCertSecretRef: { name: 'client' }, serverName: 'rpc.example' },
      auth: { basic: { secretRef: { name: 'basic' } }, headersSecretRef: { name: 'headers' } },
    };
    const result = planConnection(
      spec,
      secrets({
        ca: found({ 'ca.crt': 'CA-PEM\n' }),
        client: found({ 'tls.crt': 'CERT', 'tls.key': 'KEY' }),
        basic: found({ username: 'alice', password: 'pä ss\n' }),
        headers: found({ 'X-Api-Key': 'k-123', 'X-Tenant': 'voip' }),
      }),
      where,
    );
    assert.deepEqual(result, {
      ok: true,
      plan: {
        tls: { rejectUnauthorized: true, ca: 'CA-PEM', cert: 'CERT', key: 'KEY', servername: 'rpc.example' },
        headers: [
          ['Authorization', `Basic ${Buffer.from('alice:pä ss').toString('base64')}`],
          ['X-Api-Key', 'k-123'],
          ['X-Tenant', 'voip'],
        ],
      },
    });
    const bearer = planConnection({ auth: { bearer: { secretRef: { name: 't' } } } }, secrets({ t: found({ token: 'abc.def\n' }) }), where);
    assert.deepEqual(bearer, { ok: true, plan: { headers: [['Authorization', 'Bearer abc.def']] } });
    const skip = planConnection({ tls: { enabled: true, insecureSkipVerify: true } }, secrets({}), where);
    assert.deepEqual(skip, { ok: true, plan: { tls: { rejectUnauthorized: false }, headers: [] } });
  });

  it('names the Secret, the field and the key of every problem, never a value', () => {
    const spec = { auth: { bearer: { secretRef: { name: 'token' } } } };
    const cases: Array<[SecretAnswer, string, RegExp]> = [
      [{ kind: 'notFound' }, 'SecretNotFound', /^Secret voip\/token \(spec\.auth\.bearer\.secretRef\) does not exist: create it with the keys token; checked again every 30s$/],
      [found({ tokn: 'secret-value' }), 'SecretKeyMissing', /^Secret voip\/token \(spec\.auth\.bearer\.secretRef\) has no key token \(its keys: tokn\)$/],
      [found({ token: 'two words' }), 'InvalidSecret', /^Secret voip\/token key token must be visible ASCII without spaces$/],
      [
        { kind: 'forbidden', subject: '--serviceaccount=event-xmlrpc-system:event-xmlrpc-operator' },
        'SecretAccessDenied',
        /^the operator may not read Secret voip\/token \(spec\.auth\.bearer\.secretRef\); a namespace admin grants it get on this Subscriber's Secrets, by name: kubectl create role event-xmlrpc-secrets-blocker -n voip --verb=get --resource=secrets --resource-name=token && kubectl create rolebinding event-xmlrpc-secrets-blocker -n voip --role=event-xmlrpc-secrets-blocker --serviceaccount=event-xmlrpc-system:event-xmlrpc-operator$/,
      ],
    ];
    for (const [answer, reason, message] of cases) {
      const result = planConnection(spec, secrets({ token: answer }), where);
      assert.equal(result.ok, false);
      if (result.ok !== false) continue;
      assert.equal(result.reason, reason);
      assert.match(result.message, message);
      assert.ok(!result.message.includes('secret-value') && !result.message.includes('two words'), result.message);
    }
    const unavailable = planConnection(spec, secrets({ token: { kind: 'unavailable', message: 'connect ECONNREFUSED' } }), where);
    assert.deepEqual(unavailable, { ok: 'unavailable', message: 'Secret voip/token (spec.auth.bearer.secretRef) could not be read: connect ECONNREFUSED' });
  });

  it('refuses headers that are hop-by-hop, set by the operator, or unsafe', () => {
    const headers = (data: Record<string, string>, basic = false) =>
      planConnection(
        { auth: { headersSecretRef: { name: 'h' }, ...(basic ? { basic: { secretRef: { name: 'b' } } } : {}) } },
        secrets({ h: found(data), b: found({ username: 'u', password: 'p' }) }),
        where,
      );
    for (const name of ['Host', 'content-length', 'Content-Type', 'Connection', 'Transfer-Encoding', 'TE', 'Upgrade', 'Keep-Alive', 'Proxy-Authorization', 'User-Agent', 'Expect']) {
      const result = headers({ [name]: 'x' });
      assert.equal(result.ok, false, name);
      assert.match((result as { message: string }).message, new RegExp(`key ${name} is a header the operator sets itself or a hop-by-hop one`), name);
    }
    assert.match((headers({ 'X-Evil': 'a\r\nHost: other' }) as { message: string }).message, /key X-Evil must be printable ASCII: no line breaks/);
    assert.match((headers({ 'X-Big': 'v'.repeat(5000) }) as { message: string }).message, /longer than 4096 bytes/);
    assert.match((headers({ Authorization: 'Bearer x' }, true) as { message: string }).message, /would replace the Authorization of spec\.auth\.basic or bearer/);
    assert.equal(headers({ Authorization: 'Token x' }).ok, true, 'Authorization from the Secret, when no basic or bearer is set');
    assert.match((headers(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`X-${i}`, 'v']))) as { message: string }).message, /more than 32 headers/);
    const basic = planConnection({ auth: { basic: { secretRef: { name: 'b' } } } }, secrets({ b: found({ username: 'a:b', password: 'p' }) }), where);
    assert.match((basic as { message: string }).message, /key username holds a ":"/);
  });

  it('grants every Secret of the Subscriber in one role, for a user or a service account', () => {
    const uses = secretUses({ tls: { enabled: true, caSecretRef: { name: 'ca' } }, auth: { bearer: { secretRef: { name: 'tok' } }, headersSecretRef: { name: 'ca' } } });
    assert.deepEqual(uses.map((u) => u.field), ['spec.tls.caSecretRef', 'spec.auth.bearer.secretRef', 'spec.auth.headersSecretRef']);
    assert.equal(
      grantCommands('ns', 'sub', uses, '--user=op'),
      'kubectl create role event-xmlrpc-secrets-sub -n ns --verb=get --resource=secrets --resource-name=ca --resource-name=tok && ' +
        'kubectl create rolebinding event-xmlrpc-secrets-sub -n ns --role=event-xmlrpc-secrets-sub --user=op',
    );
    assert.deepEqual(secretUses({ tls: { caSecretRef: { name: 'ca' } } }), [], 'TLS fields without enabled are not used');
  });
});

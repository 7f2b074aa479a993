import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it, mock } from 'node:test';
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { SharedConnectionConfig } from '../../src/kube/api-connection.js';

const SA = 'var/run/secrets/kubernetes.io/serviceaccount';

/** A service-account mount under a temp directory, as a pod sees it; a KubeConfig loaded from it as in a cluster. */
function inCluster(): { dir: string; kc: KubeConfig } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'event-xmlrpc-sa-'));
  const dir = path.join(root, SA);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nnot parsed before a connection is made\n-----END CERTIFICATE-----\n');
  writeFileSync(path.join(dir, 'token'), 'token-1');
  writeFileSync(path.join(dir, 'namespace'), 'ns');
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  process.env.KUBERNETES_SERVICE_HOST = '10.0.0.1';
  process.env.KUBERNETES_SERVICE_PORT = '443';
  const kc = new KubeConfig();
  kc.loadFromCluster(`${root}/`);
  for (const [key, value] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  return { dir, kc };
}

async function authenticated(shared: SharedConnectionConfig): Promise<RequestContext> {
  const context = new RequestContext('https://10.0.0.1:443/apis', HttpMethod.GET);
  await shared.applySecurityAuthentication(context);
  return context;
}

describe('SharedConnectionConfig', () => {
  afterEach(() => mock.timers.reset());

  it('reads the CA once, gives every request the same pool, and reads a rotated token file again after a minute', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.parse('2030-01-01T00:00:00Z') });
    const { dir, kc } = inCluster();
    const shared = new SharedConnectionConfig(kc);
    try {
      const first = await authenticated(shared);
      // Gone from disk: a request that read it again would fail.
      rmSync(path.join(dir, 'ca.crt'));
      writeFileSync(path.join(dir, 'token'), 'token-2');
      const second = await authenticated(shared);
      mock.timers.tick(61_000);
      const third = await authenticated(shared);

      assert.deepEqual(
        [first, second, third].map((c) => c.getHeaders()['Authorization']),
        ['Bearer token-1', 'Bearer token-1', 'Bearer token-2'],
        'the token file is read again once a minute, as client-go does',
      );
      assert.ok(first.getDispatcher(), 'a pool of our own, not client-node default');
      assert.equal(second.getDispatcher(), first.getDispatcher());
      assert.equal(third.getDispatcher(), first.getDispatcher());
    } finally {
      await shared.close();
    }
  });

  it('keeps the server, user and context of the kubeconfig it was made from', () => {
    const { kc } = inCluster();
    const shared = new SharedConnectionConfig(kc);
    assert.equal(shared.getCurrentCluster()?.server, 'https://10.0.0.1:443');
    assert.equal(shared.getContextObject(shared.getCurrentContext())?.namespace, 'ns');
    assert.equal(shared.getCurrentCluster()?.caFile, undefined, 'the CA is held in memory');
    assert.match(Buffer.from(shared.getCurrentCluster()?.caData ?? '', 'base64').toString(), /BEGIN CERTIFICATE/);
  });
});

// The entry point's answers when it cannot run: one clear line and an exit code.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { kubeconfigYaml } from '../controlplane/control-plane.js';
import { testCluster } from '../support/cluster.js';
import { refusedPort } from '../support/tcp-peers.js';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Port 0: the default 8080 may be taken by an operator another test file runs.
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--http-port=0', ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function kubeconfig(server: string, token: string): Promise<string> {
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'startup-')), 'kubeconfig');
  await writeFile(file, kubeconfigYaml({ server, caFile: testCluster().info.caFile }, { name: 'someone', token }));
  return file;
}

describe('startup errors', () => {
  it('no reachable cluster: one line naming the server, exit 1', async () => {
    const port = await refusedPort();
    const { code, stdout, stderr } = await run([], { KUBECONFIG: await kubeconfig(`https://127.0.0.1:${port}`, 'x') });
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.match(stderr, new RegExp(`^event-xmlrpc-operator: cannot reach the Kubernetes API at https://127\\.0\\.0\\.1:${port}: `));
  });

  it('credentials the cluster refuses: one line with the HTTP status, exit 1', async () => {
    const { code, stderr } = await run([], { KUBECONFIG: await kubeconfig(testCluster().info.server, 'not-a-valid-token') });
    assert.equal(code, 1);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.match(stderr, /refused our credentials: HTTP 401 Unauthorized$/m);
  });

  it('a bad flag: the error and the usage, exit 2', async () => {
    const { code, stderr } = await run(['--connect-timeout=soon']);
    assert.equal(code, 2);
    assert.match(stderr, /^event-xmlrpc-operator: --connect-timeout must be a duration like 500ms, 5s or 1m, not "soon"/);
    assert.match(stderr, /Usage: event-xmlrpc-operator \[flags\]/);
  });

  it('--help lists every flag with its environment variable, exit 0', async () => {
    const { code, stdout } = await run(['--help']);
    assert.equal(code, 0);
    for (const flag of ['sync-mode', 'use-struct-param', 'namespace', 'user-agent', 'connect-timeout', 'response-timeout', 'log-level']) {
      assert.match(stdout, new RegExp(`--${flag}\\b[^\\n]*\\n[^\\n]*\\[env EVENT_XMLRPC_`), flag);
    }
  });
});

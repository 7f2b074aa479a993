// `npm run local` as a newcomer runs it: the example event arrives at the demo
// server, and Ctrl-C leaves no process behind.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function processesInGroup(pgid: number): string[] {
  try {
    return execFileSync('pgrep', ['-a', '-g', String(pgid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('npm run local', () => {
  it('shows the example event arriving in both param modes, and Ctrl-C stops everything', async () => {
    const child = spawn('npm', ['run', 'local', '--', '--port=0'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const pgid = child.pid!;
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    try {
      const deadline = Date.now() + 90_000;
      while (!(output.includes('block_ip(E_PIKE_BLOCKED) "ip" "192.168.2.11" "count" 3') && output.includes('audit.record(E_PIKE_BLOCKED) {"ip":"192.168.2.11"} {"count":3}'))) {
        assert.ok(Date.now() < deadline, `the example event did not arrive:\n${output}`);
        assert.equal(child.exitCode, null, `npm run local exited:\n${output}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(output, /export KUBECONFIG=\S+\.local\/kubeconfig/);
      assert.match(output, /npm run cli -- raise E_PIKE_BLOCKED/);
      assert.ok(processesInGroup(pgid).some((p) => p.includes('kube-apiserver')), 'the control plane runs in the group');
    } finally {
      process.kill(-pgid, 'SIGINT'); // what Ctrl-C does: the whole foreground group gets it
      if (child.exitCode === null) await once(child, 'exit');
    }
    const deadline = Date.now() + 15_000;
    while (processesInGroup(pgid).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(processesInGroup(pgid), [], 'nothing is left running');
    assert.match(output, /stopped; nothing is left running/);
  });
});

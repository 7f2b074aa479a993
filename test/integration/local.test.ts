// `npm run local` as a newcomer runs it, and as a script that backgrounds it
// does: the example event arrives at the demo server, the examples it wrote
// can be applied again, and however it is asked to stop (Ctrl-C to the group,
// SIGTERM to npm or to node alone, npm killed outright) no process is left.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KubeConfig, KubernetesObjectApi, PatchStrategy, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOCAL = path.join(ROOT, '.local');
const PLAIN_ARRIVED = 'block_ip(E_PIKE_BLOCKED) "ip" "192.168.2.11" "count" 3';
const STRUCT_ARRIVED = 'audit.record(E_PIKE_BLOCKED) {"ip":"192.168.2.11"} {"count":3}';

function processesInGroup(pgid: number): string[] {
  try {
    return execFileSync('pgrep', ['-a', '-g', String(pgid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** The command line of a process, from /proc. */
function commandLine(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
}

/** The direct children of a process, from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        // Field 4 of /proc/PID/stat, after the parenthesised command name, is the parent's pid.
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

interface Local {
  npm: ChildProcess;
  /** npm leads its own process group; everything `local` starts is in it. */
  pgid: number;
  output(): string;
  /** npm has exited and its output pipes are closed: every process that wrote to them is gone. */
  closed: Promise<unknown>;
}

/** Starts `npm run local -- --port=0` in its own process group; resolves once it is ready. */
async function startLocal(): Promise<Local> {
  const npm = spawn('npm', ['run', 'local', '--', '--port=0'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  npm.stdout.on('data', (d) => (output += d));
  npm.stderr.on('data', (d) => (output += d));
  const local = { npm, pgid: npm.pid!, output: () => output, closed: once(npm, 'close') };
  const deadline = performance.now() + 90_000;
  while (!(output.includes(PLAIN_ARRIVED) && output.includes(STRUCT_ARRIVED) && output.includes('Ctrl-C stops everything'))) {
    if (performance.now() > deadline || npm.exitCode !== null) {
      process.kill(-local.pgid, 'SIGKILL');
      assert.fail(`npm run local did not get ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(processesInGroup(local.pgid).some((p) => p.includes('kube-apiserver')), 'the control plane runs in the group');
  return local;
}

/** Waits for npm to exit and the group to empty; then asserts nothing survived, and kills what did. */
async function assertAllStopped(local: Local): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([local.closed, new Promise((resolve) => (timer = setTimeout(resolve, 60_000)))]);
  clearTimeout(timer);
  const deadline = performance.now() + 10_000;
  while (processesInGroup(local.pgid).length > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const left = processesInGroup(local.pgid);
  if (left.length) process.kill(-local.pgid, 'SIGKILL');
  assert.deepEqual(left, [], `nothing is left running:\n${local.output()}`);
  assert.match(local.output(), /stopped; nothing is left running/);
}

function yamlObjects(file: string): KubernetesObject[] {
  return (loadAllYaml(readFileSync(file, 'utf8')) as (KubernetesObject | null)[]).filter((o): o is KubernetesObject => !!o);
}

describe('npm run local', () => {
  it('shows the example event in both param modes; its examples apply again with its port; Ctrl-C stops everything', async () => {
    const local = await startLocal();
    try {
      const out = local.output();
      assert.match(out, /export KUBECONFIG=\S+\.local\/kubeconfig/);
      assert.match(out, /npm run cli -- raise E_PIKE_BLOCKED/);
      assert.match(out, /kubectl create -f \.local\/examples\/raises\//);
      assert.match(out, /kubectl apply -f \.local\/examples\//);
      const port = Number(/demo XML-RPC server listening on 127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
      assert.ok(port > 0 && port !== 8090, out);

      // What the printed commands do, done with the API: apply the Subscribers again, create the raise again.
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(path.join(LOCAL, 'kubeconfig'));
      const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
      const applied = readdirSync(path.join(LOCAL, 'examples')).filter((f) => f.endsWith('.yaml'));
      assert.deepEqual(applied.sort(), ['namespace.yaml', 'subscriber-plain.yaml', 'subscriber-struct.yaml']);
      for (const file of applied) {
        for (const obj of yamlObjects(path.join(LOCAL, 'examples', file))) {
          await objects.patch(obj, undefined, undefined, 'local-test', true, PatchStrategy.ServerSideApply);
        }
      }
      const sockets = applied.flatMap((f) => yamlObjects(path.join(LOCAL, 'examples', f))).map((o) => (o as { spec?: { socket?: string } }).spec?.socket);
      assert.deepEqual(sockets.filter(Boolean).sort(), [`xmlrpc:127.0.0.1:${port}/audit:audit.record`, `xmlrpc:127.0.0.1:${port}:block_ip`]);
      for (const obj of yamlObjects(path.join(LOCAL, 'examples', 'raises', 'pike-blocked.yaml'))) await objects.create(obj);

      const count = (text: string) => local.output().split(text).length - 1;
      const deadline = performance.now() + 60_000;
      while (count(PLAIN_ARRIVED) < 2 || count(STRUCT_ARRIVED) < 2) {
        assert.ok(performance.now() < deadline, `the event raised again did not arrive at port ${port}:\n${local.output()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      process.kill(-local.pgid, 'SIGINT'); // what Ctrl-C does: the whole foreground group gets it
    }
    await assertAllStopped(local);
  });

  it('SIGTERM to the npm process alone stops everything', async () => {
    const local = await startLocal();
    local.npm.kill('SIGTERM');
    await assertAllStopped(local);
    assert.match(local.output(), /stopping \(SIGTERM\)/);
  });

  it('SIGTERM to the node process alone stops everything', async () => {
    const local = await startLocal();
    const [node, ...others] = childrenOf(local.pgid);
    assert.deepEqual(others, [], 'npm runs one process: the script execs node');
    assert.match(commandLine(node!), /node --import tsx dev\/local\.ts --port=0$/);
    process.kill(node!, 'SIGTERM');
    await assertAllStopped(local);
    assert.match(local.output(), /stopping \(SIGTERM\)/);
  });

  it('npm killed outright (SIGKILL): node notices and stops everything', async () => {
    const local = await startLocal();
    local.npm.kill('SIGKILL');
    await assertAllStopped(local);
    assert.match(local.output(), /stopping \(the process that started it, \d+, is gone\)/);
  });
});

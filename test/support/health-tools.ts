// The tools GitOps users judge objects with, run for real on objects read from
// the apiserver: the kstatus library (Flux's health checks), the Argo CD
// health scripts of deploy/argocd/ under a real Lua interpreter, and kubectl.
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { writeKubeconfigFile } from './cluster.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const built = new Map<string, Promise<string>>();

/** A binary of build-binaries.sh (kubectl, kstatus): built once per machine, then cached. */
export function tool(name: 'kubectl' | 'kstatus'): Promise<string> {
  let bin = built.get(name);
  if (!bin) {
    bin = run('bash', [path.join(ROOT, 'test/controlplane/build-binaries.sh'), name], { cwd: ROOT, maxBuffer: 16 << 20 }).then(({ stdout }) => {
      const file = stdout.trim().split('\n').at(-1);
      if (!file) throw new Error(`build-binaries.sh ${name} printed no path`);
      return file;
    });
    built.set(name, bin);
  }
  return bin;
}

/** Runs `command` with `input` on stdin; resolves with its exit code and output. */
export function runWithInput(command: string, args: string[], input: string, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

export interface KstatusVerdict {
  kind: string;
  name: string;
  status: 'InProgress' | 'Failed' | 'Current' | 'Terminating' | 'Unknown';
  message: string;
}

/** What sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute says of each object. */
export async function kstatus(objects: readonly object[]): Promise<KstatusVerdict[]> {
  const input = objects.map((o) => JSON.stringify(o)).join('\n');
  const { code, stdout, stderr } = await runWithInput(await tool('kstatus'), [], input);
  if (code !== 0) throw new Error(`kstatus exited ${code}: ${stderr}`);
  return stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as KstatusVerdict);
}

const LUA_CANDIDATES = ['lua5.4', 'lua5.1', 'lua'];
let interpreters: Promise<string[]> | undefined;

/**
 * The Lua interpreters on PATH. Argo CD runs health scripts in gopher-lua, a
 * Lua 5.1; each script is run under every interpreter found (.ci/run installs
 * Debian's lua5.4 and lua5.1), and they must agree.
 */
export function luaInterpreters(): Promise<string[]> {
  interpreters ??= Promise.all(
    LUA_CANDIDATES.map((bin) => run(bin, ['-v']).then(() => bin, () => undefined)),
  ).then((found) => {
    const usable = found.filter((b): b is string => b !== undefined);
    if (usable.length === 0) throw new Error(`no Lua interpreter on PATH (tried ${LUA_CANDIDATES.join(', ')}): apt-get install lua5.4`);
    return usable;
  });
  return interpreters;
}

export interface ArgoHealth {
  status: string;
  message: string;
}

/** deploy/argocd/<script> run as Argo CD runs it: the object as the global `obj`, the returned table read. */
export async function argoHealth(script: string, obj: object): Promise<ArgoHealth> {
  const file = path.join(ROOT, 'deploy/argocd', script);
  const program = `obj = ${luaLiteral(obj)}\nlocal hs = dofile(${luaString(file)})\nio.write(tostring(hs.status), "\\n", tostring(hs.message))\n`;
  const answers = await Promise.all(
    (await luaInterpreters()).map(async (lua) => {
      const { code, stdout, stderr } = await runWithInput(lua, ['-'], program);
      if (code !== 0) throw new Error(`${lua} ${script} exited ${code}: ${stderr}`);
      const [status = '', ...message] = stdout.split('\n');
      return { lua, status, message: message.join('\n') };
    }),
  );
  const [first] = answers;
  for (const other of answers.slice(1)) {
    if (other.status !== first!.status || other.message !== first!.message) {
      throw new Error(`${first!.lua} and ${other.lua} disagree on ${script}: ${JSON.stringify(answers)}`);
    }
  }
  return { status: first!.status, message: first!.message };
}

/** A JSON value as a Lua table constructor, as Argo CD hands objects to its scripts (null is nil). */
export function luaLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return luaString(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(luaLiteral).join(', ')}}`;
  const fields = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `[${luaString(k)}] = ${luaLiteral(v)}`);
  return `{${fields.join(', ')}}`;
}

/** A Lua string literal holding exactly the UTF-8 bytes of `text` (decimal escapes work in 5.1 and 5.4). */
function luaString(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    const plain = byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c;
    out += plain ? String.fromCharCode(byte) : `\\${String(byte).padStart(3, '0')}`;
  }
  return `${out}"`;
}

/** Runs the pinned kubectl as the test cluster's admin. */
export async function kubectl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const kubeconfig = (adminKubeconfig ??= writeKubeconfigFile('admin'));
  return runWithInput(await tool('kubectl'), args, '', { ...process.env, KUBECONFIG: await kubeconfig });
}
let adminKubeconfig: Promise<string> | undefined;

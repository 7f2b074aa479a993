// The peers that run as their own processes (test/peers/*.py, *.pl). They
// share one protocol: they say on stdout, one line each, that they are ready
// and then what they saw. Their stdin is a pipe from this process; the Python
// ones exit when it closes, so none outlives the test process that started it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface PeerProcess<R> {
  /** What `ready` made of the lines before the peer was ready (its ports, say). */
  ready: R;
  close(): Promise<void>;
}

/**
 * Runs test/peers/`script` with `interpreter` and `args`. Each stdout line
 * goes to `ready` until it returns a value; every later line goes to
 * `onLine`. Rejects (and ends the process) if `ready` throws or the process
 * exits before it is ready.
 */
export async function startPeerProcess<R>(
  interpreter: 'python3' | 'perl',
  script: string,
  args: string[],
  ready: (line: string) => R | undefined,
  onLine: (line: string) => void = () => {},
): Promise<PeerProcess<R>> {
  const file = fileURLToPath(new URL(`../peers/${script}`, import.meta.url));
  const child = spawn(interpreter, [file, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  let isReady = false;
  const value = await new Promise<R>((resolve, reject) => {
    child.once('error', reject);
    exited.then(([code]) => reject(new Error(`${script} exited with ${String(code)} before it was ready`)), reject);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (isReady) return onLine(line);
      try {
        const result = ready(line);
        if (result === undefined) return;
        isReady = true;
        resolve(result);
      } catch (err) {
        reject(err as Error);
      }
    });
  }).catch((err: unknown) => {
    child.kill();
    throw err;
  });
  return {
    ready: value,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill();
      await exited;
    },
  };
}

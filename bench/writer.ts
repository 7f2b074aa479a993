// The benchmark's load generator, in a process of its own so that its CPU is
// counted apart from the operator's and the observer's. It reads one job per
// line (JSON) on stdin, runs it, and answers one line (JSON) on stdout.
//
// A job creates `count` objects in a namespace, `concurrency` at a time or
// paced at `ratePerSec`; with `status`, each create is followed by a PUT of
// that status on the object, which makes the process the baseline: a bare
// client doing the API writes the operator does for a raise.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { BareClient } from './support/bare-client.js';

export interface WriterJob {
  server: string;
  caFile: string;
  token: string;
  namespace: string;
  plural: 'eventraises' | 'subscribers';
  kind: 'EventRaise' | 'Subscriber';
  prefix: string;
  count: number;
  concurrency: number;
  /** Open loop: one create every 1000/ratePerSec ms, whatever is outstanding. */
  ratePerSec?: number;
  /** Spec of every object; `{name}` and `{i}` in string values are replaced. */
  spec: Record<string, unknown>;
  /** The baseline: a status PUT after each create, with `{now}` in string values replaced. */
  status?: Record<string, unknown>;
}

export interface WriterResult {
  /** Epoch milliseconds at which each object's create was sent. */
  startedAt: Record<string, number>;
  cpuMs: number;
  elapsedMs: number;
  errors: string[];
}

const now = () => performance.timeOrigin + performance.now();

function fill<T>(template: T, vars: Record<string, string | number>): T {
  return JSON.parse(JSON.stringify(template), (_key, value: unknown) => {
    if (typeof value !== 'string') return value;
    const whole = /^\{(\w+)\}$/.exec(value);
    if (whole && typeof vars[whole[1]!] === 'number') return vars[whole[1]!];
    return value.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
  }) as T;
}

async function run(job: WriterJob): Promise<WriterResult> {
  const client = new BareClient({ server: job.server, ca: readFileSync(job.caFile), token: job.token }, job.concurrency);
  const path = `/apis/eventxmlrpc.io/v1alpha1/namespaces/${job.namespace}/${job.plural}`;
  const startedAt: Record<string, number> = {};
  const errors: string[] = [];
  const cpu = process.cpuUsage();
  const t0 = now();

  const one = async (i: number) => {
    const name = `${job.prefix}-${i}`;
    const body = { apiVersion: 'eventxmlrpc.io/v1alpha1', kind: job.kind, metadata: { name }, spec: fill(job.spec, { name, i }) };
    startedAt[name] = now();
    try {
      const created = await client.request<Record<string, unknown>>('POST', path, body);
      if (job.status) {
        const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
        await client.request('PUT', `${path}/${name}/status`, { ...created, status: fill(job.status, { now: stamp, name }) });
      }
    } catch (err) {
      if (errors.length < 5) errors.push(String(err));
    }
  };

  if (job.ratePerSec) {
    const interval = 1000 / job.ratePerSec;
    const outstanding: Promise<void>[] = [];
    for (let i = 0; i < job.count; i++) {
      const due = t0 + i * interval - now();
      if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
      outstanding.push(one(i));
    }
    await Promise.all(outstanding);
  } else {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(job.concurrency, job.count) }, async () => {
        while (next < job.count) await one(next++);
      }),
    );
  }
  const used = process.cpuUsage(cpu);
  client.close();
  return { startedAt, cpuMs: (used.user + used.system) / 1000, elapsedMs: now() - t0, errors };
}

const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
for await (const line of lines) {
  if (!line.trim()) continue;
  const result = await run(JSON.parse(line) as WriterJob);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

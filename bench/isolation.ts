// How much a stuck subscriber slows a healthy one: the latency from creating a
// sync raise to its arrival at a healthy subscriber, measured alone (the
// baseline) and with a second subscriber of the same event that accepts and
// never answers, in the same run. Prints both and their ratio.
//
//   npm run bench:isolation [-- --raises=50]
import net from 'node:net';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import winston from 'winston';
import { GROUP, VERSION } from '../src/api/types.js';
import { parseCommandLine } from '../src/config.js';
import { Operator } from '../src/operator.js';
import { applyCrds, buildBinaries } from '../test/controlplane/bootstrap.js';
import { ControlPlane } from '../test/controlplane/control-plane.js';
import { XMLRPC_OK, startRawPeer } from '../test/support/tcp-peers.js';

const { values } = parseArgs({ options: { raises: { type: 'string', default: '50' } } });
const RAISES = Number(values.raises);
const NAMESPACE = 'bench';
const say = (line: string) => void process.stderr.write(`[bench] ${line}\n`);

const cp = await ControlPlane.start({ binDir: await buildBinaries(), log: () => {} });
try {
  const admin = cp.kubeConfig('admin');
  await applyCrds(admin, () => {});
  await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
  const custom = admin.makeApiClient(CustomObjectsApi);
  const create = (plural: string, kind: string, body: object) =>
    custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NAMESPACE, plural, body: { apiVersion: `${GROUP}/${VERSION}`, kind, ...body } });

  const arrivals = new Map<string, number>();
  let waiting: ((raise: string) => void) | undefined;
  const healthy = await startRawPeer((request) => {
    const raise = /<string>(bench-\d+)<\/string>/.exec(request.body.toString())?.[1];
    if (raise) {
      arrivals.set(raise, performance.now());
      waiting?.(raise);
    }
    return XMLRPC_OK;
  });
  const stuck = net.createServer((socket) => socket.on('error', () => {}).resume());
  await new Promise<void>((resolve) => stuck.listen(0, '127.0.0.1', resolve));

  const parsed = parseCommandLine(['--namespace', NAMESPACE, '--sync-mode', '--http-port=0', '--relay-port=0', '--response-timeout=60s', '--shutdown-grace=100ms'], {}, 'bench');
  if (parsed.kind !== 'run') throw new Error(JSON.stringify(parsed));
  const operator = new Operator({ kubeConfig: admin, config: parsed.config, log: winston.createLogger({ silent: true }) });
  await operator.start();
  await create('subscribers', 'Subscriber', { metadata: { name: 'healthy' }, spec: { event: 'E_BENCH', socket: `xmlrpc:127.0.0.1:${healthy.port}:m` } });

  let n = 0;
  /** Latencies in ms of `count` raises, one after the other. */
  async function measure(count: number): Promise<number[]> {
    const latencies: number[] = [];
    for (let i = 0; i < count; i++) {
      const name = `bench-${n++}`;
      const arrived = new Promise<void>((resolve) => (waiting = (raise) => raise === name && resolve()));
      const started = performance.now();
      await create('eventraises', 'EventRaise', { metadata: { name }, spec: { event: 'E_BENCH', params: [{ string: name }] } });
      await arrived;
      latencies.push(arrivals.get(name)! - started);
    }
    return latencies;
  }

  await measure(5); // warm-up: caches, connections, JIT
  const baseline = await measure(RAISES);
  await create('subscribers', 'Subscriber', { metadata: { name: 'stuck' }, spec: { event: 'E_BENCH', socket: `xmlrpc:127.0.0.1:${(stuck.address() as net.AddressInfo).port}:m` } });
  while (operator.index.match(NAMESPACE, 'E_BENCH', Date.now()).length < 2) await new Promise((r) => setTimeout(r, 10));
  const withStuck = await measure(RAISES);

  const stats = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return { median: sorted[Math.floor(sorted.length / 2)]!, p95: sorted[Math.floor(sorted.length * 0.95)]! };
  };
  const a = stats(baseline);
  const b = stats(withStuck);
  console.log(`raise -> healthy subscriber latency over ${RAISES} sync raises`);
  console.log(`  alone:                 median ${a.median.toFixed(1)} ms, p95 ${a.p95.toFixed(1)} ms`);
  console.log(`  beside a stuck one:    median ${b.median.toFixed(1)} ms, p95 ${b.p95.toFixed(1)} ms`);
  console.log(`  ratio (stuck / alone): median ${(b.median / a.median).toFixed(2)}x, p95 ${(b.p95 / a.p95).toFixed(2)}x`);
  say(`the stuck subscriber got ${RAISES} raises and answered none (response timeout 60s, at most 16 open at once)`);

  await operator.stop();
  await healthy.close();
  stuck.close();
} finally {
  await cp.stop();
}
process.exit(0);

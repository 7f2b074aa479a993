import { parseCommandLine, usage } from './config.js';
import { ClusterError } from './kube/errors.js';
import { loadKubeConfig } from './kube/kubeconfig.js';
import { createLogger } from './logger.js';
import { Operator } from './operator.js';
import { VERSION } from './version.js';

const NAME = 'event-xmlrpc-operator';

async function main(): Promise<number> {
  const parsed = parseCommandLine(process.argv.slice(2), process.env, VERSION);
  switch (parsed.kind) {
    case 'help':
      console.log(usage(VERSION));
      return 0;
    case 'version':
      console.log(`${NAME} ${VERSION}`);
      return 0;
    case 'error':
      console.error(`${NAME}: ${parsed.message}\n\n${usage(VERSION)}`);
      return 2;
  }
  const log = createLogger(parsed.config.logLevel);
  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig();
  } catch (err) {
    console.error(`${NAME}: ${err instanceof ClusterError ? err.message : `cannot load a kubeconfig: ${(err as Error).message}`}`);
    return 1;
  }
  const operator = new Operator({ kubeConfig, config: parsed.config, log });
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  try {
    await Promise.race([operator.start(), signal]);
  } catch (err) {
    console.error(`${NAME}: ${err instanceof ClusterError ? err.message : (err as Error).stack}`);
    return 1;
  }
  const ended = await Promise.race([signal, operator.leadershipLost.then((reason) => ({ lost: reason }))]);
  if (typeof ended === 'object') return lostLeadership(ended.lost);
  log.info('stopping', { signal: ended, graceMs: parsed.config.shutdownGraceMs });
  // A second signal does not wait for the deliveries in flight.
  const again = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const stopped = await Promise.race([
    operator.stop().then(() => ({ done: true as const })),
    operator.leadershipLost.then((reason) => ({ lost: reason })),
    again.then((repeated) => ({ repeated })),
  ]);
  if ('lost' in stopped) return lostLeadership(`${stopped.lost}, while stopping`);
  if ('repeated' in stopped) {
    console.error(`${NAME}: ${stopped.repeated} again: exiting without waiting for the deliveries in flight`);
    process.exit(1);
  }
  log.info('stopped');
  return 0;
}

/**
 * client-go's OnStoppedLeading: another instance may be delivering by now, so
 * this one must not touch a raise again; it exits at once and non-zero, and
 * its restart rejoins the election as a candidate.
 */
function lostLeadership(reason: string): never {
  console.error(`${NAME}: lost the leader election (${reason}): exiting`);
  process.exit(1);
}

process.exitCode = await main();
// Everything the operator started is stopped by now; should a stray handle keep
// the event loop alive, leave anyway (unref: this timer alone keeps nothing alive).
setTimeout(() => process.exit(), 2_000).unref();

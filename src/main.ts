import { parseCommandLine, usage } from './config.js';
import { StartupError, loadKubeConfig } from './kube/api-client.js';
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
    console.error(`${NAME}: cannot load a kubeconfig: ${(err as Error).message}`);
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
    console.error(`${NAME}: ${err instanceof StartupError ? err.message : (err as Error).stack}`);
    return 1;
  }
  log.info('stopping', { signal: await signal });
  await operator.stop();
  return 0;
}

process.exitCode = await main();

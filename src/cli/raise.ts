import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, EVENT_RAISES, type EventRaise } from '../api/types.js';
import { validateEvent } from '../core/event-params.js';
import { explainApiError } from '../kube/errors.js';
import { apiTarget, loadKubeConfig } from '../kube/kubeconfig.js';
import { durationArg, parseCommandArgs, parseParams } from './args.js';
import { CliError, UsageError } from './errors.js';
import { describeOutcome, exitCodeFor } from './outcome.js';
import { waitForTerminal } from './wait.js';

export const RAISE_USAGE = `Usage: event-xmlrpc raise EVENT [PARAM...] [-n NS] [--sync | --async] [--wait [--timeout DURATION]]

Creates an EventRaise for EVENT with the params in the order given and prints
its namespace/name.

  -n, --namespace NS    default: the kubeconfig context's namespace, else "default"
  --sync, --async       set spec.syncMode; neither leaves the operator's default
  --wait                follow the raise to a terminal phase and print the outcome;
                        exit 0 only if it is Delivered, or Dispatched with none failed
  --timeout DURATION    how long --wait waits, like 500ms, 5s or 1m (default 30s)
  -h, --help

PARAM: name=text (string), name:=INT (signed 32-bit int), =text or :=INT (unnamed).
The cluster comes from KUBECONFIG, then ~/.kube/config, then the in-cluster service account.`;

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  sync: { type: 'boolean' },
  async: { type: 'boolean' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DEFAULT_TIMEOUT = '30s';

export async function raise(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, RAISE_USAGE);
  if (values.help) {
    process.stdout.write(`${RAISE_USAGE}\n`);
    return 0;
  }
  const [event, ...words] = positionals;
  if (event === undefined) throw new UsageError('raise needs an EVENT', RAISE_USAGE);
  const params = parseParams(words, RAISE_USAGE);
  if (values.sync && values.async) throw new UsageError('--sync and --async exclude each other', RAISE_USAGE);
  if (values.timeout !== undefined && !values.wait) throw new UsageError('--timeout only applies with --wait', RAISE_USAGE);
  const timeoutText = values.timeout ?? DEFAULT_TIMEOUT;
  const timeoutMs = durationArg(timeoutText, '--timeout', RAISE_USAGE);
  // What admission would refuse, refused here with the same words as `render`.
  const problems = validateEvent(event, params);
  if (problems.length) throw new CliError(`invalid event: ${problems.join('; ')}`, 2);

  const kubeConfig = loadKubeConfig();
  const namespace = values.namespace ?? contextNamespace(kubeConfig);
  const body: EventRaise = {
    apiVersion: API_VERSION,
    kind: EVENT_RAISES.kind,
    metadata: { generateName: generateNameFor(event) },
    spec: {
      event,
      ...(params.length ? { params } : {}),
      ...(values.sync || values.async ? { syncMode: Boolean(values.sync) } : {}),
    },
  };
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const explained = (err: unknown) => Promise.reject(new CliError(explainApiError(err, apiTarget(kubeConfig), { resource: EVENT_RAISES }), 1));
  const created: EventRaise = await api
    .createNamespacedCustomObject({ group: EVENT_RAISES.group, version: EVENT_RAISES.version, plural: EVENT_RAISES.plural, namespace, body })
    .catch(explained);
  const key = `${created.metadata.namespace}/${created.metadata.name}`;
  process.stdout.write(`${key}\n`);
  if (!values.wait) return 0;

  const result = await waitForTerminal(kubeConfig, created, timeoutMs).catch(explained);
  switch (result.kind) {
    case 'deleted':
      throw new CliError(`${key} was deleted while waiting for its outcome`, 1);
    case 'timeout':
      throw new CliError(
        `timed out after ${timeoutText} waiting for ${key} to finish (phase: ${result.last.status?.phase ?? 'none yet'})`,
        1,
      );
    case 'terminal':
      process.stdout.write(`${describeOutcome(result.raise)}\n`);
      return exitCodeFor(result.raise);
  }
}

function contextNamespace(kubeConfig: KubeConfig): string {
  return kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace || 'default';
}

/**
 * E_PIKE_BLOCKED → "e-pike-blocked-": lower case, and `_` (or `.`, which the
 * apiserver takes but not next to a `-`) as `-`; it must start alphanumeric.
 */
export function generateNameFor(event: string): string {
  const base = event.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '');
  return `${base || 'raise'}-`;
}

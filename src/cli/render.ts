import { defaultUserAgent } from '../config.js';
import { renderRequest } from '../core/http-request.js';
import { encodeMethodCall, InvalidEventError } from '../core/method-call.js';
import { parseSocket } from '../core/socket.js';
import { VERSION } from '../version.js';
import { parseCommandArgs, parseParams } from './args.js';
import { CliError, UsageError } from './errors.js';

export const RENDER_USAGE = `Usage: event-xmlrpc render --socket SOCKET [--struct] [--user-agent UA] EVENT [PARAM...]

Prints the HTTP request the operator would send to SOCKET for EVENT, byte for
byte (CRLF header lines, no newline after the body). Sends nothing and needs
no cluster.

  --socket SOCKET    xmlrpc:HOST:PORT[PATH]:METHOD, as in Subscriber.spec.socket
  --struct           each named param in its own struct (useStructParam: true)
  --user-agent UA    default: event-xmlrpc-operator/${VERSION}, the operator's default
  -h, --help

PARAM: name=text (string), name:=INT (signed 32-bit int), =text or :=INT (unnamed).`;

const OPTIONS = {
  socket: { type: 'string' },
  struct: { type: 'boolean' },
  'user-agent': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function render(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, RENDER_USAGE);
  if (values.help) {
    process.stdout.write(`${RENDER_USAGE}\n`);
    return 0;
  }
  const [event, ...words] = positionals;
  if (values.socket === undefined) throw new UsageError('render needs --socket', RENDER_USAGE);
  if (event === undefined) throw new UsageError('render needs an EVENT', RENDER_USAGE);
  const params = parseParams(words, RENDER_USAGE);

  const parsed = parseSocket(values.socket);
  if (!parsed.ok) throw new CliError(parsed.message, 2);
  let body: string;
  try {
    body = encodeMethodCall({ method: parsed.target.method, event, params, useStructParam: values.struct ?? false });
  } catch (err) {
    if (err instanceof InvalidEventError) throw new CliError(`invalid event: ${err.message}`, 2);
    throw err;
  }
  const userAgent = values['user-agent'] ?? defaultUserAgent(VERSION);
  process.stdout.write(renderRequest(parsed.target, userAgent, body));
  return 0;
}

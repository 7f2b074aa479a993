// What went wrong in a call to the Kubernetes API: a status code, one readable
// line, and for a person (the CLI's stderr, the operator's startup line and
// logs) what happened and what to do about it, in the same words everywhere.
import type { Resource } from '../api/types.js';

/** Which cluster a client talks to, as whom, and where that came from: named in every explanation. */
export interface ApiTarget {
  server: string;
  /** `user "alice"`, or `the pod's service account`. */
  identity: string;
  /** `KUBECONFIG=/path`, `/home/me/.kube/config`, or `the in-cluster configuration`. */
  source: string;
}

/** A failure fully described by its message: what happened and what to do. */
export class ClusterError extends Error {
  override readonly name = 'ClusterError';
}

export function statusCode(err: unknown): number | undefined {
  const e = err as { statusCode?: number; code?: number | string } | undefined;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return typeof e?.code === 'number' ? e.code : undefined;
}

/** One line saying what went wrong: the API's own message where it sent one. */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  let body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      if (body) return `${firstLine(err.message)}: ${firstLine(body as string).slice(0, 200)}`;
    }
  }
  const message = statusMessage(body);
  if (message !== undefined) return message;
  // client-node's ApiException puts "HTTP-Code: N\nMessage: text\nBody: ..." in its message.
  const status = /^HTTP-Code: (\d+)\nMessage: (.*)$/m.exec(err.message);
  if (status) return `HTTP ${status[1]} ${status[2]}`;
  const cause = (err as { cause?: { message?: string } }).cause;
  return firstLine(cause?.message ? `${err.message} (${cause.message})` : err.message);
}

export interface ExplainOptions {
  /** The kind the call was about: a 404 without a Status object means its CRD is not installed. */
  resource?: Resource;
  /** Said after a 403: where the rights that are missing are written down. */
  rightsHint?: string;
}

/**
 * What a failed call met, and what to do, in one line:
 * unreachable or untrusted server, refused credentials (which server refused
 * which user), missing rights (the apiserver names the user and the verb; the
 * kubectl command that checks them), missing CRDs. Other answers keep the
 * apiserver's own message, which names the rule or the object.
 */
export function explainApiError(err: unknown, target: ApiTarget, options: ExplainOptions = {}): string {
  const code = statusCode(err);
  const at = `the Kubernetes API at ${target.server}`;
  if (code === undefined) {
    const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
    const reason = typeof cause?.message === 'string' ? cause.message : errorText(err);
    if (/HTTP protocol is not allowed/.test(errorText(err))) {
      return `the server ${target.server} in ${target.source} is plain http://, which is refused unless its cluster sets insecure-skip-tls-verify: true; use the cluster's https:// address`;
    }
    if (typeof cause?.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(cause.code)) {
      return `${at} presented a certificate that ${target.source} does not trust (${reason}): check the cluster's certificate-authority there (kubectl config view --minify)`;
    }
    return `cannot reach ${at} (${reason}): check that the cluster is running and that ${target.source} names it (kubectl config view --minify)`;
  }
  const body = parsedBody(err);
  const message = statusMessage(body);
  if (code === 401) {
    return `${at} refused the credentials of ${target.identity} from ${target.source} (HTTP 401 Unauthorized): its token or certificate is wrong or expired; renew them, or choose another context (kubectl config use-context NAME)`;
  }
  if (code === 403) {
    const check = canICommand(message ?? '');
    const rights = options.rightsHint ? `; ${options.rightsHint}` : '';
    return `${at} refused ${target.identity}: ${message ?? 'HTTP 403 Forbidden'}; a cluster admin can grant it with RBAC${check ? ` (check: ${check})` : ''}${rights}`;
  }
  if (code === 404 && message === undefined && options.resource) {
    return crdsNotInstalled(target.server, [options.resource]);
  }
  return message ?? errorText(err);
}

/** The one sentence for CRDs that are not there, from the CLI and the operator alike. */
export function crdsNotInstalled(server: string, resources: readonly Resource[]): string {
  const names = resources.map((r) => `${r.plural}.${r.group}`).join(', ');
  const [first] = resources;
  const api = first ? ` (${first.group}/${first.version})` : '';
  return `the Kubernetes API at ${server} does not serve ${names}${api}: its CRDs are not installed; install them as a cluster admin: kubectl apply -f crds/`;
}

/**
 * The apiserver's forbidden message, `User "u" cannot create resource "r" in
 * API group "g" in the namespace "n"`, as the kubectl command that checks it.
 */
function canICommand(message: string): string | undefined {
  const m = /cannot (\S+) resource "([^"]+)" in API group "([^"]*)"(?: in the namespace "([^"]+)")?/.exec(message);
  if (!m) return undefined;
  const [, verb, resource, group, namespace] = m;
  const what = group ? `${resource}.${group}` : resource;
  return `kubectl auth can-i ${verb} ${what} ${namespace ? `-n ${namespace}` : '--all-namespaces'}`;
}

function parsedBody(err: unknown): unknown {
  const body = (err as { body?: unknown } | undefined)?.body;
  if (typeof body !== 'string') return body;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** The message of a metav1.Status body, if that is what the apiserver sent. */
function statusMessage(body: unknown): string | undefined {
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}

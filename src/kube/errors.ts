// What went wrong in a call to the Kubernetes API, as a status code and one readable line.

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
  const message = (body as { message?: unknown } | undefined)?.message;
  if (typeof message === 'string') return message;
  // client-node's ApiException puts "HTTP-Code: N\nMessage: text\nBody: ..." in its message.
  const status = /^HTTP-Code: (\d+)\nMessage: (.*)$/m.exec(err.message);
  if (status) return `HTTP ${status[1]} ${status[2]}`;
  const cause = (err as { cause?: { message?: string } }).cause;
  return firstLine(cause?.message ? `${err.message} (${cause.message})` : err.message);
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}

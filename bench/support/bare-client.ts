// The baseline's API client: node:https with one keep-alive agent, JSON in and
// out, nothing else. What any client must at least spend on the same calls.
import https from 'node:https';
import { createInterface } from 'node:readline';

export interface ApiEndpoint {
  server: string;
  ca: Buffer;
  token: string;
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export class BareClient {
  private readonly agent: https.Agent;
  private readonly base: URL;

  constructor(
    private readonly endpoint: ApiEndpoint,
    maxSockets = 64,
  ) {
    this.agent = new https.Agent({ keepAlive: true, ca: endpoint.ca, maxSockets });
    this.base = new URL(endpoint.server);
  }

  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = https.request(
        {
          host: this.base.hostname,
          port: this.base.port,
          method,
          path,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.endpoint.token}`,
            accept: 'application/json',
            ...(payload !== undefined && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 0) >= 300) reject(new ApiError(res.statusCode ?? 0, `${method} ${path}: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
            else resolve(text ? (JSON.parse(text) as T) : (undefined as T));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A watch: every event line parsed and handed over until close(). */
  watch(path: string, onEvent: (type: string, object: Record<string, unknown>) => void): { close(): void; ended: Promise<void> } {
    let request: ReturnType<typeof https.request> | undefined;
    const ended = new Promise<void>((resolve, reject) => {
      request = https.request(
        {
          host: this.base.hostname,
          port: this.base.port,
          method: 'GET',
          path,
          // Its own connection: a stream that lasts must not hold one of the pool's.
          agent: false,
          ca: this.endpoint.ca,
          headers: { authorization: `Bearer ${this.endpoint.token}`, accept: 'application/json' },
        },
        (res) => {
          if (res.statusCode !== 200) {
            reject(new ApiError(res.statusCode ?? 0, `watch ${path}: HTTP ${res.statusCode}`));
            res.resume();
            return;
          }
          // Closing the watch aborts the response: that ends it, it is not an error.
          res.on('error', () => resolve());
          createInterface({ input: res }).on('error', () => resolve()).on('line', (line) => {
            const event = JSON.parse(line) as { type: string; object: Record<string, unknown> };
            onEvent(event.type, event.object);
          });
          res.on('end', resolve);
        },
      );
      request.on('error', () => resolve());
      request.end();
    });
    return { close: () => request?.destroy(), ended };
  }

  close(): void {
    this.agent.destroy();
  }
}

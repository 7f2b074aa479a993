import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ProbeServerOptions {
  port: number;
  registry: Registry;
  /** Ready once the caches are synced and the CRDs were found. */
  isReady: () => boolean;
}

/** /metrics for Prometheus, /healthz and /readyz for the kubelet. */
export class ProbeServer {
  private readonly server: http.Server;

  constructor(private readonly options: ProbeServerOptions) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    switch (path) {
      case '/metrics': {
        const body = await this.options.registry.metrics();
        return send(res, 200, body, this.options.registry.contentType);
      }
      case '/healthz':
        return send(res, 200, 'ok\n');
      case '/readyz':
        return this.options.isReady() ? send(res, 200, 'ok\n') : send(res, 503, 'caches not synced\n');
      default:
        return send(res, 404, 'not found\n');
    }
  }
}

function send(res: http.ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

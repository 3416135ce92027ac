import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';

import type { Registry } from 'prom-client';

import { renderMetrics } from './metrics.ts';
import { DEFAULT_METRICS_HOST } from './settings.ts';

/**
 * The worker's small HTTP endpoint (the ingest server serves /metrics itself): `GET /metrics` in
 * Prometheus' text format, `GET /health` 200 while `healthy()` says so, else 503.
 */
export interface MetricsServer {
  /** `http://host:port`, with the port actually bound. */
  url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(options: {
  registry: Registry;
  port: number;
  host?: string;
  healthy: () => { ok: boolean; state: string };
}): Promise<MetricsServer> {
  const host = options.host ?? DEFAULT_METRICS_HOST;
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'text/plain', '');
    if (path === '/metrics') {
      renderMetrics(options.registry).then(
        ({ contentType, body }) => send(response, 200, contentType, body),
        (err: unknown) => send(response, 500, 'text/plain', `metrics failed: ${String(err)}\n`),
      );
      return;
    }
    if (path === '/health') {
      const { ok, state } = options.healthy();
      return send(
        response,
        ok ? 200 : 503,
        'application/json',
        JSON.stringify({ status: ok ? 'ok' : state }),
      );
    }
    send(response, 404, 'text/plain', 'not found: try /metrics or /health\n');
  });
  server.listen(options.port, host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Prometheus keeps its connection open between scrapes; do not wait for it.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

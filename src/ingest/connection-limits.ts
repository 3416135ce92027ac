import type { Server } from 'node:http';

import type { FastifyHttpOptions } from 'fastify';

import { DEFAULT_INGEST_MAX_CONNECTIONS, DEFAULT_INGEST_TIMEOUTS, type Settings } from '../settings.ts';

/**
 * What one connection may cost the server: how long a client may take over its headers, over the
 * whole request, or sit idle, and how many connections are open at once. Without these a slow
 * client could hold a 20 MB upload open for ever, and a crowd of them every socket the process has.
 */
export interface ConnectionLimits {
  /** Until the request's headers are in; then the connection is closed (408). */
  headersTimeoutMs: number;
  /** Until the whole request, body included, is in. */
  bodyTimeoutMs: number;
  /** A connection on which nothing moves (between requests, or mid-request) for this long is closed. */
  idleTimeoutMs: number;
  /** Open connections; more are refused at accept. */
  maxConnections: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: DEFAULT_INGEST_TIMEOUTS.headersMs,
  bodyTimeoutMs: DEFAULT_INGEST_TIMEOUTS.bodyMs,
  idleTimeoutMs: DEFAULT_INGEST_TIMEOUTS.idleMs,
  maxConnections: DEFAULT_INGEST_MAX_CONNECTIONS,
};

/** The limits the settings (CIO_SYNC_INGEST_*_TIMEOUT, _MAX_CONNECTIONS) give. */
export function connectionLimitsOf(settings: Settings): ConnectionLimits {
  return {
    headersTimeoutMs: settings.ingestHeadersTimeoutMs,
    bodyTimeoutMs: settings.ingestBodyTimeoutMs,
    idleTimeoutMs: settings.ingestIdleTimeoutMs,
    maxConnections: settings.ingestMaxConnections,
  };
}

export function fastifyConnectionOptions(limits: ConnectionLimits): FastifyHttpOptions<Server> {
  // Node refuses a headers timeout above the request timeout.
  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.bodyTimeoutMs);
  return {
    requestTimeout: limits.bodyTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    http: {
      headersTimeout,
      // Node checks the header and request timeouts on this interval (30 s by default, which would
      // let a slow client overstay a 10 s limit by up to 30 s).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeout / 2))),
    },
  };
}

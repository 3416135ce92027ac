import type { Server } from 'node:http';

import type { FastifyHttpOptions } from 'fastify';

import { parseDuration } from '../config/duration.ts';

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
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  idleTimeoutMs: 15_000,
  maxConnections: 512,
};

/** Environment variables for each limit (durations as `30s` or milliseconds). */
export const CONNECTION_LIMIT_VARIABLES: Record<keyof ConnectionLimits, string> = {
  headersTimeoutMs: 'CIO_SYNC_INGEST_HEADERS_TIMEOUT',
  bodyTimeoutMs: 'CIO_SYNC_INGEST_BODY_TIMEOUT',
  idleTimeoutMs: 'CIO_SYNC_INGEST_IDLE_TIMEOUT',
  maxConnections: 'CIO_SYNC_INGEST_MAX_CONNECTIONS',
};

/** The limits set in `env`; throws naming the variable when one is not a positive duration/number. */
export function connectionLimitsFromEnv(env: NodeJS.ProcessEnv): Partial<ConnectionLimits> {
  const limits: Partial<ConnectionLimits> = {};
  for (const [field, variable] of Object.entries(CONNECTION_LIMIT_VARIABLES) as Array<
    [keyof ConnectionLimits, string]
  >) {
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    const value = field === 'maxConnections' ? Number(raw) : parseDuration(raw);
    if (value === undefined || !Number.isInteger(value) || value < 1) {
      throw new Error(
        `${variable}=${JSON.stringify(raw)}: expected ${field === 'maxConnections' ? 'a positive integer' : 'a duration such as 10s or 500ms'}`,
      );
    }
    limits[field] = value;
  }
  return limits;
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

import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { pino, type DestinationStream, type Logger } from 'pino';

import type { LogLevelName } from './settings.ts';

/**
 * JSON logs, one object per line, for the worker and ingest (ingest's Fastify logger takes the same
 * redaction). Config values are `${ENV}` references and resolved secrets stay inside the Customer.io
 * client and cohort sources, so nothing should ever log one; redaction is the second line of defence
 * for anything logged by hand or by a library (an error carrying request options, say).
 */
const SECRET_KEYS = [
  'authorization',
  'Authorization',
  'apiKey',
  'api_key',
  'writeKey',
  'trackApiKey',
  'appApiKey',
  'secretKey',
  'password',
  'connectionString',
];

/** Paths (fast-redact syntax: `*` is one level) where a secret may sit in a log object. */
export const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((key) => `*.${key}`),
  ...SECRET_KEYS.map((key) => `*.*.${key}`),
  'req.headers.authorization',
  'req.query.api_key',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
];

export const REDACT_CENSOR = '[redacted]';

export function createLogger(
  options: { level?: LogLevelName; name?: string; destination?: DestinationStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      ...(options.name !== undefined && { name: options.name }),
      redact: { paths: REDACT_PATHS, censor: REDACT_CENSOR },
      // The Temporal SDK puts failures under `error`; give both keys pino's Error serializer.
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    },
    options.destination,
  );
}

const TO_PINO: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The Temporal SDK's Logger interface on top of pino: SDK, workflow and activity logs (and Core's,
 * when forwarded) become JSON lines like ours. The SDK stamps Core's entries with a symbol-keyed
 * timestamp, which JSON leaves out; pino's own `time` stands.
 */
export function temporalLogger(logger: Logger): TemporalLogger {
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const method = TO_PINO[level] ?? 'info';
    if (meta === undefined) logger[method](message);
    else logger[method]({ ...meta }, message);
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

/** The Temporal Core log filter matching a pino level (Core has no fatal/silent). */
export function temporalLevelOf(level: LogLevelName): LogLevel {
  if (level === 'fatal' || level === 'silent') return 'ERROR';
  return level.toUpperCase() as LogLevel;
}

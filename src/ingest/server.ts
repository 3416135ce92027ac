import { parseArgs } from 'node:util';

import type { FastifyInstance } from 'fastify';

import { MissingEnvError, referencedVariables, resolveEnv } from '../config/env.ts';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { createIngestMetrics, type IngestMetrics } from '../metrics.ts';
import { loadSettings, type Settings } from '../settings.ts';
import { openStore } from '../store/index.ts';
import type { Store } from '../store/store.ts';
import {
  buildIngestApp,
  createIngestCounters,
  type IngestCounters,
  type IngestLimits,
  type IngestLoggerOptions,
  type IngestSource,
} from './app.ts';
import { connectionLimitsOf, type ConnectionLimits } from './connection-limits.ts';

/**
 * The ingest server entry point (`node src/ingest/server.ts [--config file]`), and startIngest() for
 * running the same thing in-process (the start command, tests).
 *
 * Settings (src/settings.ts): CIO_SYNC_CONFIG (when --config/-f is not given), CIO_SYNC_STORE,
 * CIO_SYNC_INGEST_HOST / _PORT, LOG_LEVEL, and the limits a hostile client meets
 * (CIO_SYNC_INGEST_*_TIMEOUT, _MAX_CONNECTIONS, _MAX_DECODES, _PREAUTH_BYTES). Every source's key
 * variable must be set. Prometheus metrics are served at GET /metrics on the same port.
 */

/** How long in-flight requests get to finish on SIGTERM before their connections are cut. */
export const SHUTDOWN_GRACE_MS = 20_000;

export interface StartIngestOptions {
  /** A parsed config; else `configPath`, else CIO_SYNC_CONFIG is loaded. */
  config?: Config;
  configPath?: string;
  /** An open store (left open by close()); else `storeUrl`, else CIO_SYNC_STORE, is opened. */
  store?: Store;
  storeUrl?: string;
  host?: string;
  port?: number;
  /** Where `${ENV}` references and CIO_SYNC_* settings are read from. Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  logger?: IngestLoggerOptions;
  /** Body limits; over the CIO_SYNC_INGEST_MAX_DECODES / _PREAUTH_BYTES settings. */
  limits?: Partial<IngestLimits>;
  /** Timeouts and connection cap; over the CIO_SYNC_INGEST_*_TIMEOUT / _MAX_CONNECTIONS settings. */
  connections?: Partial<ConnectionLimits>;
  counters?: IngestCounters;
  /** Prometheus metrics (served at GET /metrics); a registry of its own is made otherwise. */
  metrics?: IngestMetrics;
  /** In-flight requests' time to finish in close() before their connections are cut. */
  shutdownGraceMs?: number;
}

export interface RunningIngest {
  app: FastifyInstance;
  /** `http://host:port`, with the port actually bound. */
  url: string;
  sources: string[];
  counters: IngestCounters;
  metrics: IngestMetrics;
  /**
   * Stops accepting, answers in-flight requests (cutting connections still open after the grace
   * time), then closes the store if startIngest opened it.
   */
  close(): Promise<void>;
}

/** A source's key variable is unset or empty: ingest does not start (see resolveSources). */
export class MissingSourceKeyError extends Error {
  override name = 'MissingSourceKeyError';
  readonly variable: string;
  constructor(sourceId: string, variable: string) {
    super(
      `source "${sourceId}": environment variable ${variable} is not set; ingest does not start ` +
        "without every source's key (set it, or remove the source from the config)",
    );
    this.variable = variable;
  }
}

/**
 * Every source's key, from `env`. A missing one stops ingest from starting, naming the variable:
 * a default in the config would be a key anyone who read it could write with, and serving the
 * other sources would hide the mistake until that source's data is found missing.
 */
export function resolveSources(
  config: Config,
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void = () => {},
): IngestSource[] {
  return config.sources.map((source) => {
    const apiKey = requiredSecret(source.id, source.apiKey, 'apiKey', env);
    const webhooks = webhookSecretsOf(source, env);
    return {
      id: source.id,
      apiKey,
      ...secretKeyOf(source, env, warn),
      ...(webhooks && { webhooks }),
      ...(source.dedupe !== undefined && { dedupe: source.dedupe }),
    };
  });
}

/**
 * A source's key or webhook secret: unset or empty stops ingest (a source without its key could not
 * be told apart, a webhook route without its secret would be open).
 */
function requiredSecret(sourceId: string, reference: string, field: string, env: NodeJS.ProcessEnv): string {
  const variable = referencedVariables(reference)[0] ?? reference;
  let value: string;
  try {
    value = resolveEnv(reference, `source ${sourceId} ${field}`, env);
  } catch (err) {
    if (err instanceof MissingEnvError) throw new MissingSourceKeyError(sourceId, err.variable);
    throw err;
  }
  if (value.trim() === '') throw new MissingSourceKeyError(sourceId, variable);
  return value;
}

function webhookSecretsOf(
  source: Config['sources'][number],
  env: NodeJS.ProcessEnv,
): IngestSource['webhooks'] | undefined {
  const { amplitude, segment } = source.webhooks ?? {};
  if (!amplitude && !segment) return undefined;
  return {
    ...(amplitude && {
      amplitude: {
        header: amplitude.header.toLowerCase(),
        secret: requiredSecret(source.id, amplitude.secret, 'webhooks.amplitude.secret', env),
      },
    }),
    ...(segment && {
      segment: {
        secret: requiredSecret(source.id, segment.sharedSecret, 'webhooks.segment.sharedSecret', env),
      },
    }),
  };
}

/** The body-decoding limits the settings give. */
function ingestLimitsOf(settings: Settings): Partial<IngestLimits> {
  return { maxConcurrentDecodes: settings.ingestMaxDecodes, preAuthBytes: settings.ingestPreAuthBytes };
}

/** A source's deletion-API secret; an unset variable only turns deletions off for that source. */
function secretKeyOf(
  source: Config['sources'][number],
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
): { secretKey?: string } {
  if (source.secretKey === undefined) return {};
  try {
    return { secretKey: resolveEnv(source.secretKey, `source ${source.id} secretKey`, env) };
  } catch (err) {
    if (!(err instanceof MissingEnvError)) throw err;
    warn(
      `source "${source.id}" accepts no deletion requests: environment variable ${err.variable} is not set`,
    );
    return {};
  }
}

async function configOf(options: StartIngestOptions, settings: Settings): Promise<Config> {
  if (options.config) return options.config;
  const path = options.configPath ?? settings.configFile;
  if (!path) throw new Error('no config file: pass --config <file> or set CIO_SYNC_CONFIG');
  return loadConfig(path);
}

export async function startIngest(options: StartIngestOptions = {}): Promise<RunningIngest> {
  const env = options.env ?? process.env;
  const settings = loadSettings(env);
  const config = await configOf(options, settings);
  const host = options.host ?? settings.ingestHost;
  const port = options.port ?? settings.ingestPort;
  const ownStore = options.store === undefined;
  const store = options.store ?? (await openStore(options.storeUrl ?? settings.storeUrl));
  const counters = options.counters ?? createIngestCounters();
  const metrics = options.metrics ?? createIngestMetrics();
  let app: FastifyInstance;
  let closing: Promise<void> | undefined;
  try {
    const warnings: string[] = [];
    const sources = resolveSources(config, env, (message) => warnings.push(message));
    app = buildIngestApp({
      store,
      sources,
      logger: options.logger,
      limits: { ...ingestLimitsOf(settings), ...options.limits },
      connections: { ...connectionLimitsOf(settings), ...options.connections },
      counters,
      metrics,
    });
    // A request answered during close() must not leave its keep-alive connection open: that would
    // hold the shutdown until the client or the keep-alive timeout lets go.
    app.addHook('onSend', async (_request, reply, payload) => {
      if (closing) reply.header('connection', 'close');
      return payload;
    });
    for (const message of warnings) app.log.warn(message);
    if (sources.length === 0) app.log.warn('the config has no sources: every request will be rejected');
    await app.listen({ host, port, listenTextResolver: (address) => `ingest listening at ${address}` });
  } catch (err) {
    if (ownStore) await store.close();
    throw err;
  }
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    app,
    url: `http://${urlHost}:${boundPort}`,
    sources: config.sources.map((source) => source.id),
    counters,
    metrics,
    close() {
      closing ??= (async () => {
        const graceMs = options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS;
        const cut = setTimeout(() => {
          app.log.warn({ graceMs }, 'requests still open after the grace time: closing their connections');
          app.server.closeAllConnections();
        }, graceMs);
        try {
          await app.close();
        } finally {
          clearTimeout(cut);
          if (ownStore) await store.close();
        }
      })();
      return closing;
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string', short: 'f' } },
    allowPositionals: false,
  });
  const running = await startIngest({
    configPath: values.config,
    logger: { level: loadSettings().logLevel },
  });
  const stopped = new Promise<void>((resolve, reject) => {
    const shutdown = (signal: NodeJS.Signals) => {
      running.app.log.info({ signal, graceMs: SHUTDOWN_GRACE_MS }, 'ingest shutting down');
      // A second signal gets Node's default: stop at once.
      running.close().then(resolve, reject);
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
  await stopped;
  running.app.log.info('ingest stopped');
}

if (import.meta.main) {
  main().then(
    () => {
      process.exitCode = 0;
      // Everything is closed; a handle some library left open must not keep a stopped server around.
      setTimeout(() => process.exit(), 5000).unref();
    },
    (err: unknown) => {
      // Config and store errors carry precise messages (file:line, variable names); no stack needed.
      console.error(
        JSON.stringify({ level: 'error', msg: err instanceof Error ? err.message : String(err) }),
      );
      process.exitCode = 1;
      setTimeout(() => process.exit(), 5000).unref();
    },
  );
}

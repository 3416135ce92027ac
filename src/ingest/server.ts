import { parseArgs } from 'node:util';

import type { FastifyInstance } from 'fastify';

import { MissingEnvError, resolveEnv } from '../config/env.ts';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
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

/**
 * The ingest server entry point (`node src/ingest/server.ts [--config file]`), and startIngest() for
 * running the same thing in-process (the start command, tests).
 *
 * Environment: CIO_SYNC_CONFIG (config file, when --config/-f is not given), CIO_SYNC_STORE (default
 * sqlite:.data/cio-sync.db), CIO_SYNC_INGEST_HOST (default 127.0.0.1), CIO_SYNC_INGEST_PORT
 * (default 8788; 0 picks a free port).
 */

export const DEFAULT_STORE_URL = 'sqlite:.data/cio-sync.db';
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8788;

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
  limits?: Partial<IngestLimits>;
  counters?: IngestCounters;
}

export interface RunningIngest {
  app: FastifyInstance;
  /** `http://host:port`, with the port actually bound. */
  url: string;
  sources: string[];
  counters: IngestCounters;
  /** Stops accepting, answers in-flight requests, then closes the store if startIngest opened it. */
  close(): Promise<void>;
}

/** A source whose key variable is unset is skipped, so one missing secret does not stop the others. */
export function resolveSources(
  config: Config,
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
): IngestSource[] {
  const sources: IngestSource[] = [];
  for (const source of config.sources) {
    try {
      sources.push({ id: source.id, apiKey: resolveEnv(source.apiKey, `source ${source.id} apiKey`, env) });
    } catch (err) {
      if (!(err instanceof MissingEnvError)) throw err;
      warn(`source "${source.id}" skipped: environment variable ${err.variable} is not set`);
    }
  }
  return sources;
}

function portOf(value: number | string | undefined): number {
  const port =
    typeof value === 'number' ? value : value === undefined || value === '' ? DEFAULT_PORT : Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid ingest port ${JSON.stringify(value)} (CIO_SYNC_INGEST_PORT must be 0-65535)`);
  }
  return port;
}

async function configOf(options: StartIngestOptions, env: NodeJS.ProcessEnv): Promise<Config> {
  if (options.config) return options.config;
  const path = options.configPath ?? env.CIO_SYNC_CONFIG;
  if (!path) throw new Error('no config file: pass --config <file> or set CIO_SYNC_CONFIG');
  return loadConfig(path);
}

export async function startIngest(options: StartIngestOptions = {}): Promise<RunningIngest> {
  const env = options.env ?? process.env;
  const config = await configOf(options, env);
  const host = options.host ?? env.CIO_SYNC_INGEST_HOST ?? DEFAULT_HOST;
  const port = portOf(options.port ?? env.CIO_SYNC_INGEST_PORT);
  const ownStore = options.store === undefined;
  const store =
    options.store ?? (await openStore(options.storeUrl ?? env.CIO_SYNC_STORE ?? DEFAULT_STORE_URL));
  const counters = options.counters ?? createIngestCounters();
  const warnings: string[] = [];
  const sources = resolveSources(config, env, (message) => warnings.push(message));
  let app: FastifyInstance;
  try {
    app = buildIngestApp({ store, sources, logger: options.logger, limits: options.limits, counters });
    for (const message of warnings) app.log.warn(message);
    if (sources.length === 0) app.log.warn('no source has its api key set: every request will be rejected');
    await app.listen({ host, port, listenTextResolver: (address) => `ingest listening at ${address}` });
  } catch (err) {
    if (ownStore) await store.close();
    throw err;
  }
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    app,
    url: `http://${urlHost}:${boundPort}`,
    sources: sources.map((source) => source.id),
    counters,
    close() {
      closing ??= (async () => {
        try {
          await app.close();
        } finally {
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
    logger: { level: process.env.LOG_LEVEL ?? 'info' },
  });
  const shutdown = (signal: string) => {
    running.app.log.info({ signal }, 'ingest shutting down');
    running.close().then(
      () => {
        process.exitCode = 0;
      },
      (err: unknown) => {
        running.app.log.error({ err }, 'ingest shutdown failed');
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    // Config and store errors carry precise messages (file:line, variable names); no stack needed.
    console.error(JSON.stringify({ level: 'error', msg: err instanceof Error ? err.message : String(err) }));
    process.exitCode = 1;
  });
}

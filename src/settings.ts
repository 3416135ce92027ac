import { join } from 'node:path';

import { LOG_LEVELS as LEVELS, type LogLevelName } from './setting-parsers.ts';
import {
  setting,
  text,
  port,
  positiveInteger,
  positiveDuration,
  list,
  hostList,
  logLevel,
  flag,
  SettingValueError,
  type SettingSpec,
} from './setting-parsers.ts';

export { LOG_LEVELS, type LogLevelName } from './setting-parsers.ts';

/**
 * Every environment variable cio-sync's processes read as a setting, in one place: its name, its
 * default, who reads it and what it means, parsed once with zod. The worker, ingest, the CLI and
 * `make start` call loadSettings() at start; nothing else reads a named variable (a lint rule
 * refuses `process.env.NAME` elsewhere). docs/environment.md is generated from this list
 * (`npm run docs:settings`, scripts/settings-table.ts) and a test checks it.
 *
 * Not here: the variables a config names in `${ENV}` references (the Customer.io and source keys).
 * Those belong to the config, and config/env.ts and config/worker-env.ts resolve them.
 */

export const DEFAULT_TASK_QUEUE = 'cio-sync';
export const DEFAULT_DATA_DIR = '.data';
/** The store's file inside a data directory. */
export const STORE_FILE = 'cio-sync.db';
export const DEFAULT_INGEST_HOST = '127.0.0.1';
export const DEFAULT_INGEST_PORT = 8788;
export const DEFAULT_METRICS_HOST = '127.0.0.1';
export const DEFAULT_METRICS_PORT = 9464;
export const DEFAULT_TEMPORAL_PORT = 7233;
/**
 * Unbounded, V8 lets the worker's heap grow to about twice this before it collects, so the limit is
 * what keeps the worker's memory near what it uses (docs/benchmarks.md, "Worker memory").
 */
export const DEFAULT_WORKER_HEAP_MB = 320;
export const DEFAULT_TEMPORAL_UI_PORT = 8233;
export const DEFAULT_DESTINATION_VARIABLES = [
  'CIO_SITE_ID',
  'CIO_TRACK_API_KEY',
  'CIO_APP_API_KEY',
  'CIO_DESTINATION_*',
];
export const DEFAULT_COHORT_VARIABLES = ['AMP_API_KEY', 'AMP_SECRET_KEY', 'CIO_COHORT_*'];
/** Relative to the worker's working directory. */
export const DEFAULT_COHORT_DIR = 'cohorts';
/** Relative to the worker's working directory. */
export const DEFAULT_BACKFILL_DIR = 'backfills';
export const DEFAULT_INGEST_TIMEOUTS = { headersMs: 10_000, bodyMs: 30_000, idleMs: 15_000 };
export const DEFAULT_INGEST_MAX_CONNECTIONS = 512;
export const DEFAULT_INGEST_MAX_DECODES = 8;
export const DEFAULT_INGEST_PREAUTH_BYTES = 1_048_576;

const SETTINGS = {
  temporalAddress: setting({
    variable: 'TEMPORAL_ADDRESS',
    shown: '`127.0.0.1:7233`',
    readBy: 'worker, CLI',
    meaning: 'the Temporal frontend (`make start` sets it to its dev server)',
    schema: text,
    fallback: `127.0.0.1:${DEFAULT_TEMPORAL_PORT}`,
  }),
  namespace: setting({
    variable: 'TEMPORAL_NAMESPACE',
    shown: '`default`',
    readBy: 'worker, CLI',
    meaning: 'the Temporal namespace',
    schema: text,
    fallback: 'default',
  }),
  taskQueue: setting({
    variable: 'CIO_SYNC_TASK_QUEUE',
    shown: `\`${DEFAULT_TASK_QUEUE}\``,
    readBy: 'worker, CLI, `make start`',
    meaning: 'the task queue workers poll and syncs are started on',
    schema: text,
    fallback: DEFAULT_TASK_QUEUE,
  }),
  storeUrl: setting<string | undefined>({
    variable: 'CIO_SYNC_STORE',
    shown: '`sqlite:$CIO_SYNC_DATA/cio-sync.db`',
    readBy: 'worker, ingest, CLI',
    meaning: '`sqlite:PATH` or `postgres://…`',
    schema: text,
    // Filled in by loadSettings from the data directory.
    fallback: undefined,
  }),
  dataDir: setting({
    variable: 'CIO_SYNC_DATA',
    shown: `\`${DEFAULT_DATA_DIR}\` (in the working directory)`,
    readBy: 'worker, ingest, CLI, `make start`',
    meaning: "where the default SQLite store (and, for `make start`, the dev server's history) is kept",
    schema: text,
    fallback: DEFAULT_DATA_DIR,
  }),
  configFile: setting<string | undefined>({
    variable: 'CIO_SYNC_CONFIG',
    shown: '— (`-f`); `examples/cio-sync.yaml` for `make start`',
    readBy: 'ingest, `make start`',
    meaning: 'the config file ingest serves the sources of',
    schema: text,
    fallback: undefined,
  }),
  ingestHost: setting({
    variable: 'CIO_SYNC_INGEST_HOST',
    shown: `\`${DEFAULT_INGEST_HOST}\``,
    readBy: 'ingest',
    meaning: 'the address ingest listens on (`0.0.0.0` in the Docker image)',
    schema: text,
    fallback: DEFAULT_INGEST_HOST,
  }),
  ingestPort: setting({
    variable: 'CIO_SYNC_INGEST_PORT',
    shown: `\`${DEFAULT_INGEST_PORT}\``,
    readBy: 'ingest, `make start`',
    meaning: 'the port ingest listens on (`0` picks a free port)',
    schema: port,
    fallback: DEFAULT_INGEST_PORT,
  }),
  ingestHeadersTimeoutMs: setting({
    variable: 'CIO_SYNC_INGEST_HEADERS_TIMEOUT',
    shown: '`10s`',
    readBy: 'ingest',
    meaning: "a request's headers must be in by then (408)",
    schema: positiveDuration,
    fallback: DEFAULT_INGEST_TIMEOUTS.headersMs,
  }),
  ingestBodyTimeoutMs: setting({
    variable: 'CIO_SYNC_INGEST_BODY_TIMEOUT',
    shown: '`30s`',
    readBy: 'ingest',
    meaning: 'the whole request, body included, must be in by then',
    schema: positiveDuration,
    fallback: DEFAULT_INGEST_TIMEOUTS.bodyMs,
  }),
  ingestIdleTimeoutMs: setting({
    variable: 'CIO_SYNC_INGEST_IDLE_TIMEOUT',
    shown: '`15s`',
    readBy: 'ingest',
    meaning: 'a connection on which nothing moves is closed',
    schema: positiveDuration,
    fallback: DEFAULT_INGEST_TIMEOUTS.idleMs,
  }),
  ingestMaxConnections: setting({
    variable: 'CIO_SYNC_INGEST_MAX_CONNECTIONS',
    shown: `\`${DEFAULT_INGEST_MAX_CONNECTIONS}\``,
    readBy: 'ingest',
    meaning: 'open connections; more are refused',
    schema: positiveInteger,
    fallback: DEFAULT_INGEST_MAX_CONNECTIONS,
  }),
  ingestMaxDecodes: setting({
    variable: 'CIO_SYNC_INGEST_MAX_DECODES',
    shown: `\`${DEFAULT_INGEST_MAX_DECODES}\``,
    readBy: 'ingest',
    meaning: 'bodies inflated and parsed at once (others wait, 503 after 10 s)',
    schema: positiveInteger,
    fallback: DEFAULT_INGEST_MAX_DECODES,
  }),
  ingestPreAuthBytes: setting({
    variable: 'CIO_SYNC_INGEST_PREAUTH_BYTES',
    shown: `\`${DEFAULT_INGEST_PREAUTH_BYTES}\``,
    readBy: 'ingest',
    meaning: 'decoded bytes of an Amplitude body allowed before its `api_key` is seen (413 beyond)',
    schema: positiveInteger,
    fallback: DEFAULT_INGEST_PREAUTH_BYTES,
  }),
  metricsHost: setting({
    variable: 'CIO_SYNC_METRICS_HOST',
    shown: `\`${DEFAULT_METRICS_HOST}\``,
    readBy: 'worker',
    meaning: 'the address of Prometheus `/metrics` and `/health`',
    schema: text,
    fallback: DEFAULT_METRICS_HOST,
  }),
  metricsPort: setting({
    variable: 'CIO_SYNC_METRICS_PORT',
    shown: `\`${DEFAULT_METRICS_PORT}\` (\`0\` = free port)`,
    readBy: 'worker',
    meaning: 'the port of `/metrics` and `/health`',
    schema: port,
    fallback: DEFAULT_METRICS_PORT,
  }),
  logLevel: setting<LogLevelName>({
    variable: 'LOG_LEVEL',
    shown: '`info`',
    readBy: 'worker, ingest',
    meaning: `JSON log lines at this level and above (${LEVELS.join(', ')})`,
    schema: logLevel,
    fallback: 'info',
  }),
  workflowBundle: setting<string | undefined>({
    variable: 'CIO_SYNC_WORKFLOW_BUNDLE',
    shown: 'bundled at start',
    readBy: 'worker',
    meaning: 'a pre-built workflow bundle (the Docker image builds one)',
    schema: text,
    fallback: undefined,
  }),
  destinationVariables: setting({
    variable: 'CIO_SYNC_DESTINATION_VARIABLES',
    shown: `\`${DEFAULT_DESTINATION_VARIABLES.join(',')}\``,
    readBy: 'worker',
    meaning: 'the only variables destination fields resolve (`*` = prefix)',
    schema: list,
    fallback: DEFAULT_DESTINATION_VARIABLES,
    emptyIsValue: true,
  }),
  cohortVariables: setting({
    variable: 'CIO_SYNC_COHORT_VARIABLES',
    shown: `\`${DEFAULT_COHORT_VARIABLES.join(',')}\``,
    readBy: 'worker',
    meaning: 'the only variables cohort source fields resolve',
    schema: list,
    fallback: DEFAULT_COHORT_VARIABLES,
    emptyIsValue: true,
  }),
  overrideHosts: setting({
    variable: 'CIO_SYNC_OVERRIDE_HOSTS',
    shown: '— (none)',
    readBy: 'worker',
    meaning: '`host` or `host:port` list a `trackUrl`/`appUrl`/Amplitude `url` override may use',
    schema: hostList,
    fallback: [],
    emptyIsValue: true,
  }),
  cohortUrlHosts: setting({
    variable: 'CIO_SYNC_COHORT_URL_HOSTS',
    shown: '— (none)',
    readBy: 'worker',
    meaning: 'hosts a `url` cohort source may send resolved `${VAR}`s to',
    schema: hostList,
    fallback: [],
    emptyIsValue: true,
  }),
  cohortDir: setting({
    variable: 'CIO_SYNC_COHORT_DIR',
    shown: `\`${DEFAULT_COHORT_DIR}\` (in the working directory)`,
    readBy: 'worker',
    meaning:
      '`file` cohort sources read only below it; further `:`-separated entries are more directories or single files (`make start` adds the ones its config names)',
    schema: text,
    fallback: DEFAULT_COHORT_DIR,
  }),
  backfillDir: setting({
    variable: 'CIO_SYNC_BACKFILL_DIR',
    shown: `\`${DEFAULT_BACKFILL_DIR}\` (in the working directory)`,
    readBy: 'worker',
    meaning: '`cio-sync backfill --file` reads export zips only below it',
    schema: text,
    fallback: DEFAULT_BACKFILL_DIR,
  }),
  workerHeapMb: setting({
    variable: 'CIO_SYNC_WORKER_HEAP_MB',
    shown: `\`${DEFAULT_WORKER_HEAP_MB}\``,
    readBy: '`make start`, benchmarks',
    meaning:
      "the worker's V8 heap limit (`--max-old-space-size`; the Docker image and compose file pass the same); unbounded, V8 lets it grow to twice that before collecting",
    schema: positiveInteger,
    fallback: DEFAULT_WORKER_HEAP_MB,
  }),
  temporalPort: setting({
    variable: 'TEMPORAL_PORT',
    shown: `\`${DEFAULT_TEMPORAL_PORT}\``,
    readBy: '`make start`',
    meaning: "the dev server's frontend port",
    schema: port,
    fallback: DEFAULT_TEMPORAL_PORT,
  }),
  temporalUiPort: setting({
    variable: 'TEMPORAL_UI_PORT',
    shown: `\`${DEFAULT_TEMPORAL_UI_PORT}\``,
    readBy: '`make start`',
    meaning: "the dev server's Web UI port",
    schema: port,
    fallback: DEFAULT_TEMPORAL_UI_PORT,
  }),
  webApiKey: setting({
    variable: 'WEB_API_KEY',
    shown: '`dev-web-key` (with a warning)',
    readBy: '`make start`',
    meaning: "the example config's source key; `make start` supplies a development key when it is unset",
    schema: text,
    fallback: '',
  }),
  temporalCli: setting<string | undefined>({
    variable: 'TEMPORAL_CLI',
    shown: 'found or built',
    readBy: 'set-up, `make start`, tests',
    meaning: 'a `temporal` binary to use instead of building the pinned v1.5.1',
    schema: text,
    fallback: undefined,
  }),
  cacheDir: setting<string | undefined>({
    variable: 'CIO_SYNC_CACHE',
    shown: '`~/.cache/cio-sync`',
    readBy: 'set-up (scripts/setup.sh)',
    meaning: 'where Node 24 and the Temporal CLI are cached, outside the checkout',
    schema: text,
    fallback: undefined,
  }),
  installDeps: setting({
    variable: 'CIO_SYNC_INSTALL_DEPS',
    shown: '— (`CI` implies it)',
    readBy: 'set-up (scripts/setup.sh)',
    meaning: "`1`: install Debian's `postgresql` and `chromium` for the tests when missing",
    schema: flag,
    fallback: false,
  }),
  postgresBin: setting<string | undefined>({
    variable: 'CIO_SYNC_PG_BIN',
    shown: "Debian's newest, else `PATH`",
    readBy: 'set-up, tests',
    meaning: 'a directory holding `initdb` and `postgres` for the PostgreSQL tests',
    schema: text,
    fallback: undefined,
  }),
  chromium: setting({
    variable: 'CIO_SYNC_CHROMIUM',
    shown: '`/usr/bin/chromium`',
    readBy: 'set-up, tests',
    meaning: 'the headless Chromium the Web UI test drives',
    schema: text,
    fallback: '/usr/bin/chromium',
  }),
  noTemporal: setting({
    variable: 'CIO_SYNC_NO_TEMPORAL',
    shown: '—',
    readBy: 'tests',
    meaning: '`1`: run without the dev server (unit and store tests only)',
    schema: flag,
    fallback: false,
  }),
  fuzzRuns: setting({
    variable: 'CIO_SYNC_FUZZ_RUNS',
    shown: '`40`',
    readBy: 'tests',
    meaning: 'cases per fuzz test',
    schema: positiveInteger,
    fallback: 40,
  }),
  updateScreenshot: setting({
    variable: 'CIO_SYNC_UPDATE_SCREENSHOT',
    shown: '—',
    readBy: 'tests',
    meaning: '`1`: the Web UI test also rewrites `docs/webui*.png`',
    schema: flag,
    fallback: false,
  }),
};

type Specs = typeof SETTINGS;
type Parsed = { [K in keyof Specs]: Specs[K] extends SettingSpec<infer T> ? T : never };

/** The variable behind a setting, for messages that tell the user what to set. */
export function variableOf(key: keyof Specs): string {
  return SETTINGS[key].variable;
}
export type Settings = Omit<Parsed, 'storeUrl'> & { storeUrl: string };

/** The store CIO_SYNC_STORE defaults to: SQLite in the data directory. */
export function defaultStoreUrl(dataDir: string): string {
  return `sqlite:${join(dataDir, STORE_FILE)}`;
}

/** One message naming every variable that does not parse. */
export class SettingsError extends Error {
  override name = 'SettingsError';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(
      problems.length === 1
        ? `invalid setting ${problems[0]}`
        : `invalid settings:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
    this.problems = problems;
  }
}

/** Every setting from `env`, defaults filled in; throws a SettingsError naming each bad variable. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, spec] of Object.entries(SETTINGS) as Array<[string, SettingSpec<unknown>]>) {
    try {
      values[key] = spec.parse(env[spec.variable]);
    } catch (err) {
      if (!(err instanceof SettingValueError)) throw err;
      problems.push(err.message);
    }
  }
  if (problems.length > 0) throw new SettingsError(problems);
  const parsed = values as Parsed;
  return { ...parsed, storeUrl: parsed.storeUrl ?? defaultStoreUrl(parsed.dataDir) };
}

/** Names, defaults, readers and meanings, in docs/environment.md's order. */
export function settingsReference(): Array<{
  variable: string;
  shown: string;
  readBy: string;
  meaning: string;
}> {
  return Object.values(SETTINGS).map(({ variable, shown, readBy, meaning }) => ({
    variable,
    shown,
    readBy,
    meaning,
  }));
}

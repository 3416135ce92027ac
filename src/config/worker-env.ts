import { delimiter, dirname, resolve, sep } from 'node:path';

import { loadSettings, variableOf } from '../settings.ts';
import { MissingEnvError, referencedVariables, resolveEnv } from './env.ts';

/**
 * What a config arriving through Temporal may make the worker do with its own environment. Anyone
 * who can start a workflow or send an update writes that config, so the worker, not the config,
 * decides which of its variables a field may read, where credentials may be sent, and which files
 * a cohort may read:
 *
 * - destination fields (`siteId`, `trackApiKey`, `appApiKey`) resolve only CIO_SYNC_DESTINATION_VARIABLES;
 * - cohort source fields resolve only CIO_SYNC_COHORT_VARIABLES (so a cohort cannot read the
 *   Customer.io keys, nor a destination the store password);
 * - Customer.io (and Amplitude) hosts are the region hosts; a `trackUrl`/`appUrl`/`url` override
 *   is used only when its host is in CIO_SYNC_OVERRIDE_HOSTS, and a URL cohort source resolves
 *   references only for hosts in CIO_SYNC_COHORT_URL_HOSTS;
 * - `file` cohort sources read only below CIO_SYNC_COHORT_DIR. Its first entry is the directory
 *   relative paths are read from; further entries (separated like PATH's, `:` on POSIX) are more
 *   directories or single files a cohort may read: `make start` (src/start.ts) lists there the
 *   files its config names outside the directory (docs/config-checks.md).
 *
 * Lists are comma-separated; a name ending in `*` is a prefix. Defaults are in src/settings.ts.
 */

export const WORKER_ENV_SETTINGS = {
  destinationVariables: variableOf('destinationVariables'),
  cohortVariables: variableOf('cohortVariables'),
  overrideHosts: variableOf('overrideHosts'),
  cohortUrlHosts: variableOf('cohortUrlHosts'),
  cohortDir: variableOf('cohortDir'),
  backfillDir: variableOf('backfillDir'),
} as const;

export interface WorkerEnvPolicy {
  destinationVariables: readonly string[];
  cohortVariables: readonly string[];
  /** `host` or `host:port` entries (lower case). */
  overrideHosts: readonly string[];
  cohortUrlHosts: readonly string[];
  /** Absolute: where relative cohort paths are read from. */
  cohortDir: string;
  /** Absolute: further directories, or single files, that cohort files may be (CIO_SYNC_COHORT_DIR's later entries). */
  cohortPaths: readonly string[];
  /** Absolute: where `backfill --file` zips may be read. */
  backfillDir: string;
}

/** The policy part of the settings (src/settings.ts) read from `env`. */
export function workerEnvPolicy(env: NodeJS.ProcessEnv, cwd = process.cwd()): WorkerEnvPolicy {
  const settings = loadSettings(env);
  const [cohortDir = settings.cohortDir, ...cohortPaths] = settings.cohortDir
    .split(delimiter)
    .filter((entry) => entry !== '');
  return {
    destinationVariables: settings.destinationVariables,
    cohortVariables: settings.cohortVariables,
    overrideHosts: settings.overrideHosts,
    cohortUrlHosts: settings.cohortUrlHosts,
    cohortDir: resolve(cwd, cohortDir),
    cohortPaths: cohortPaths.map((entry) => resolve(cwd, entry)),
    backfillDir: resolve(cwd, settings.backfillDir),
  };
}

export function isAllowedVariable(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

/** A reference to a variable this worker does not resolve for that kind of field. */
export class ForbiddenEnvError extends MissingEnvError {
  override name = 'ForbiddenEnvError';
  constructor(variable: string, what: string, setting: string) {
    super(variable, what);
    this.message =
      `environment variable ${variable} (for ${what}) is not one this worker resolves there: ` +
      `allow it in ${setting}`;
  }
}

/**
 * resolveEnv for one field, refusing variables outside `patterns` (before looking at their
 * values, so nothing about them leaks, not even whether they are set).
 */
export function resolveAllowed(
  value: string,
  what: string,
  env: NodeJS.ProcessEnv,
  patterns: readonly string[],
  setting: string,
): string {
  for (const variable of referencedVariables(value)) {
    if (!isAllowedVariable(variable, patterns)) throw new ForbiddenEnvError(variable, what, setting);
  }
  return resolveEnv(value, what, env);
}

/** Like resolveAllowed, but undefined when a variable is unset or not allowed. */
export function tryResolveAllowed(
  value: string | undefined,
  env: NodeJS.ProcessEnv,
  patterns: readonly string[],
): string | undefined {
  if (value === undefined) return undefined;
  try {
    return resolveAllowed(value, 'value', env, patterns, '');
  } catch (err) {
    if (err instanceof MissingEnvError) return undefined;
    throw err;
  }
}

/** `host` and `host:port` of a URL, lower case; undefined when it does not parse. */
function hostsOf(url: string): { host: string; hostname: string } | undefined {
  try {
    const parsed = new URL(url);
    return { host: parsed.host.toLowerCase(), hostname: parsed.hostname.toLowerCase() };
  } catch {
    return undefined;
  }
}

export function isAllowedHost(url: string, hosts: readonly string[]): boolean {
  const found = hostsOf(url);
  return found !== undefined && (hosts.includes(found.host) || hosts.includes(found.hostname));
}

/** Undefined when `url` may be used; else why not (the host, never a credential). */
export function overrideProblem(url: string, what: string, policy: WorkerEnvPolicy): string | undefined {
  if (isAllowedHost(url, policy.overrideHosts)) return undefined;
  const host = hostsOf(url)?.host ?? url;
  return (
    `${what} override ${JSON.stringify(host)} is not allowed by this worker: credentials go only to ` +
    `the region hosts unless ${WORKER_ENV_SETTINGS.overrideHosts} lists the host`
  );
}

/**
 * `ok`: the absolute path, and the directory it must stay below once links are followed. Else why
 * not, with the absolute path the worker would have read.
 */
type FilePath = { ok: true; path: string; base: string } | { ok: false; path: string; message: string };

function isBelow(path: string, dir: string): boolean {
  return path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** `path` (relative to `dir`) below `dir`, below one of `more` directories, or one of `more` files. */
function pathBelow(
  path: string,
  dir: string,
  what: string,
  setting: string,
  more: readonly string[] = [],
): FilePath {
  const absolute = resolve(dir, path);
  if (isBelow(absolute, dir)) return { ok: true, path: absolute, base: dir };
  for (const entry of more) {
    if (isBelow(absolute, entry)) return { ok: true, path: absolute, base: entry };
    if (absolute === entry) return { ok: true, path: absolute, base: dirname(entry) };
  }
  return {
    ok: false,
    path: absolute,
    message: `${what} ${JSON.stringify(path)} is outside ${dir}: this worker reads them only below ${setting}`,
  };
}

/** The absolute path of a cohort file, or a message when CIO_SYNC_COHORT_DIR does not allow it. */
export function cohortFilePath(path: string, policy: WorkerEnvPolicy): FilePath {
  return pathBelow(path, policy.cohortDir, 'cohort file', WORKER_ENV_SETTINGS.cohortDir, policy.cohortPaths);
}

/** The absolute path of an export zip to backfill from, or why the worker will not read it. */
export function backfillFilePath(path: string, policy: WorkerEnvPolicy): FilePath {
  return pathBelow(path, policy.backfillDir, 'export zip', WORKER_ENV_SETTINGS.backfillDir);
}

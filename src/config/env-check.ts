import { readFile } from 'node:fs/promises';
import { delimiter } from 'node:path';

import type { CohortSourceConfig } from './cohort-source.ts';
import { MissingEnvError, referencedVariables } from './env.ts';
import { ConfigError, configPositions, type ConfigProblem } from './load.ts';
import type { Config } from './schema.ts';
import {
  WORKER_ENV_SETTINGS,
  cohortFilePath,
  isAllowedHost,
  isAllowedVariable,
  overrideProblem,
  resolveAllowed,
  workerEnvPolicy,
  type WorkerEnvPolicy,
} from './worker-env.ts';

/**
 * A config checked against the environment that will resolve it: what the worker's policy
 * (worker-env.ts) will refuse — a `${VAR}` it does not resolve for that kind of field, a host it
 * will not send credentials to, a cohort file outside its directory — and the variables this
 * environment does not set. The checks are the worker's own functions, applied field by field to
 * the same fields the worker resolves (activities/destinations.ts, cohorts/index.ts,
 * activities/backfill.ts); docs/config-checks.md has the rule `validate`, `apply` and `make start`
 * follow.
 */

export interface EnvProblem extends ConfigProblem {
  /**
   * `refused`: the worker will not do it, whatever its variables hold (validate and apply fail);
   * `unset`: an allowed variable this environment does not set (a warning: the worker may have it).
   */
  kind: 'refused' | 'unset';
  /** The setting that would allow it and the entry it would need; absent when no setting can. */
  allow?: { setting: string; entry: string };
}

type Locate = ReturnType<typeof configPositions>;

/** Every problem of `config` (parsed from `text`, read from `file`) in the environment `env`. */
export function checkConfigAgainstEnv(
  config: Config,
  source: { file: string; text: string },
  env: NodeJS.ProcessEnv,
  cwd = process.cwd(),
): EnvProblem[] {
  const policy = workerEnvPolicy(env, cwd);
  const at = configPositions(source.text);
  const problems: EnvProblem[] = [];
  const report = (
    path: PropertyKey[],
    kind: EnvProblem['kind'],
    message: string,
    allow?: EnvProblem['allow'],
  ) => problems.push({ ...position(source.file, at, path), kind, message, ...(allow && { allow }) });
  const fields = new FieldChecks(env, policy, report);

  config.sources.forEach((s, i) => {
    if (s.exportUrl !== undefined)
      fields.host(['sources', i, 'exportUrl'], s.exportUrl, `source ${s.id} exportUrl`);
  });
  config.destinations.forEach((d, i) => {
    // A dry-run destination resolves nothing and sends nowhere (DestinationClients.dryRunClient).
    if (d.dryRun === true) return;
    const path = (field: string) => ['destinations', i, field];
    for (const field of ['siteId', 'trackApiKey', 'appApiKey'] as const) {
      const value = d[field];
      if (value !== undefined)
        fields.variables(path(field), value, `destination ${d.id} ${field}`, 'destinationVariables');
    }
    for (const field of ['trackUrl', 'appUrl'] as const) {
      const url = d[field];
      if (url !== undefined) fields.host(path(field), url, `destination ${d.id} ${field}`);
    }
  });
  config.syncs.forEach((sync, i) => {
    if (sync.type === 'cohort') fields.cohort(['syncs', i, 'cohort'], sync.cohort);
  });
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}

function position(file: string, at: Locate, path: PropertyKey[]) {
  const field = path.reduce<string>(
    (out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    '',
  );
  return { file, ...at(path), field };
}

type Report = (
  path: PropertyKey[],
  kind: EnvProblem['kind'],
  message: string,
  allow?: EnvProblem['allow'],
) => void;

/** The worker's checks, one field at a time. */
class FieldChecks {
  readonly #env: NodeJS.ProcessEnv;
  readonly #policy: WorkerEnvPolicy;
  readonly #report: Report;

  constructor(env: NodeJS.ProcessEnv, policy: WorkerEnvPolicy, report: Report) {
    this.#env = env;
    this.#policy = policy;
    this.#report = report;
  }

  /** The field's value resolved as the worker would; undefined when it would not resolve. */
  variables(
    path: PropertyKey[],
    value: string,
    what: string,
    kind: 'destinationVariables' | 'cohortVariables',
  ): string | undefined {
    const setting = WORKER_ENV_SETTINGS[kind];
    const refused = referencedVariables(value).filter((v) => !isAllowedVariable(v, this.#policy[kind]));
    for (const variable of new Set(refused)) {
      const fields = kind === 'destinationVariables' ? 'destination' : 'cohort source';
      this.#report(
        path,
        'refused',
        `${what}: the worker does not resolve \${${variable}} in a ${fields} field`,
        {
          setting,
          entry: variable,
        },
      );
    }
    if (refused.length > 0) return undefined;
    try {
      return resolveAllowed(value, what, this.#env, this.#policy[kind], setting);
    } catch (err) {
      if (!(err instanceof MissingEnvError)) throw err;
      this.#report(path, 'unset', `${err.message} here: the worker needs it in its own environment`);
      return undefined;
    }
  }

  /** An override the worker sends credentials to only when CIO_SYNC_OVERRIDE_HOSTS lists its host. */
  host(path: PropertyKey[], url: string, what: string): void {
    const problem = overrideProblem(url, what, this.#policy);
    if (problem)
      this.#report(path, 'refused', problem, {
        setting: WORKER_ENV_SETTINGS.overrideHosts,
        entry: hostOf(url),
      });
  }

  /** What openCohortSource (cohorts/index.ts) refuses, field by field. */
  cohort(path: PropertyKey[], cohort: CohortSourceConfig): void {
    const at = (field: string) => [...path, field];
    const variables = (field: string, value: string, what = `cohort.${field}`) =>
      this.variables(at(field), value, what, 'cohortVariables');
    switch (cohort.from) {
      case 'amplitude':
        if (cohort.url !== undefined) this.host(at('url'), cohort.url, 'cohort.url');
        variables('apiKey', cohort.apiKey);
        variables('secretKey', cohort.secretKey);
        return;
      case 'postgres':
        variables('connectionString', cohort.connectionString);
        return;
      case 'file': {
        if (referencedVariables(cohort.path).length > 0) {
          this.#report(
            at('path'),
            'refused',
            'cohort.path: ${VAR} references are not resolved in a file path',
          );
          return;
        }
        const file = cohortFilePath(cohort.path, this.#policy);
        if (!file.ok)
          this.#report(at('path'), 'refused', file.message, {
            setting: WORKER_ENV_SETTINGS.cohortDir,
            entry: file.path,
          });
        return;
      }
      case 'url': {
        const url = variables('url', cohort.url);
        let references = referencedVariables(cohort.url).length > 0;
        for (const [name, value] of Object.entries(cohort.headers)) {
          references ||= referencedVariables(value).length > 0;
          variables('headers', value, `cohort.headers.${name}`);
        }
        // The host is known once the URL resolves; a token goes only where the worker lets tokens go.
        if (url !== undefined && references && !isAllowedHost(url, this.#policy.cohortUrlHosts)) {
          const setting = WORKER_ENV_SETTINGS.cohortUrlHosts;
          this.#report(
            at('url'),
            'refused',
            `cohort.url: its \${VAR} references are resolved only for hosts in ${setting}`,
            {
              setting,
              entry: hostOf(url),
            },
          );
        }
        return;
      }
    }
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return url;
  }
}

/** The settings of `env` that `entries` widen, each with its new value (the policy's own entries first). */
export function widenedSettings(
  problems: readonly EnvProblem[],
  env: NodeJS.ProcessEnv,
  cwd = process.cwd(),
): Record<string, string> {
  const policy = workerEnvPolicy(env, cwd);
  const current: Record<string, readonly string[]> = {
    [WORKER_ENV_SETTINGS.destinationVariables]: policy.destinationVariables,
    [WORKER_ENV_SETTINGS.cohortVariables]: policy.cohortVariables,
    [WORKER_ENV_SETTINGS.overrideHosts]: policy.overrideHosts,
    [WORKER_ENV_SETTINGS.cohortUrlHosts]: policy.cohortUrlHosts,
    [WORKER_ENV_SETTINGS.cohortDir]: [policy.cohortDir, ...policy.cohortPaths],
  };
  const widened: Record<string, string[]> = {};
  for (const { allow } of problems) {
    if (!allow) continue;
    const list = (widened[allow.setting] ??= [...(current[allow.setting] ?? [])]);
    if (!list.includes(allow.entry)) list.push(allow.entry);
  }
  return Object.fromEntries(
    Object.entries(widened).map(([setting, list]) => [
      setting,
      list.join(setting === WORKER_ENV_SETTINGS.cohortDir ? delimiter : ','),
    ]),
  );
}

/** `file:line: message (allow it with SETTING=value)`; unset variables as `file:line: warning: …`. */
export function formatEnvProblem(problem: EnvProblem, env: NodeJS.ProcessEnv, cwd = process.cwd()): string {
  const where = `${problem.file}:${problem.line}:`;
  if (problem.kind === 'unset') return `${where} warning: ${problem.message}`;
  const allow = Object.entries(widenedSettings([problem], env, cwd))
    .map(([setting, value]) => ` (allow it with ${setting}=${value})`)
    .join('');
  return `${where} ${problem.message}${allow || ' (no setting allows it)'}`;
}

/** What the worker will refuse: `validate` and `apply` exit 2 with it, like an invalid config. */
export class EnvCheckError extends ConfigError {
  override name = 'EnvCheckError';
  constructor(problems: EnvProblem[], env: NodeJS.ProcessEnv, cwd = process.cwd()) {
    super(problems);
    this.message = [
      'the worker in this environment would refuse it:',
      ...problems.map((p) => formatEnvProblem(p, env, cwd)),
    ].join('\n');
  }
}

/**
 * `validate` and `apply`: reads `file` (already loaded as `config`) and throws EnvCheckError for
 * what the worker will refuse; writes each unset variable to `warn`, which does not fail.
 */
export async function assertConfigRuns(
  file: string,
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<void> {
  const problems = checkConfigAgainstEnv(config, { file, text: await readFile(file, 'utf8') }, env);
  for (const p of problems) if (p.kind === 'unset') warn(formatEnvProblem(p, env));
  const refused = problems.filter((p) => p.kind === 'refused');
  if (refused.length > 0) throw new EnvCheckError(refused, env);
}

/**
 * `make start`: the worker it starts beside `file`, written by the same person, may do what that
 * file names. The settings to give that worker (each widened by exactly the file's entries), and a
 * line to log for each; throws EnvCheckError for what no setting allows. A worker started alone
 * keeps its settings, and a config sent later through Temporal cannot change a running worker's.
 */
export async function allowConfigFile(
  file: string,
  config: Config,
  env: NodeJS.ProcessEnv,
  cwd = process.cwd(),
): Promise<{ settings: Record<string, string>; notes: string[] }> {
  const problems = checkConfigAgainstEnv(config, { file, text: await readFile(file, 'utf8') }, env, cwd);
  const unallowed = problems.filter((p) => p.kind === 'refused' && !p.allow);
  if (unallowed.length > 0) throw new EnvCheckError(unallowed, env, cwd);
  const notes = problems.map((p) =>
    p.allow
      ? `${p.file}:${p.line}: the worker started here allows ${p.allow.entry} in ${p.allow.setting}`
      : formatEnvProblem(p, env, cwd),
  );
  return { settings: widenedSettings(problems, env, cwd), notes };
}

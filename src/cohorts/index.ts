/**
 * Opens the cohort source a sync's `cohort:` config describes. `${ENV_VAR}` references are resolved
 * here, from `env` — the environment of the worker that reads the cohort — and never written back
 * into anything that reaches Temporal.
 */
import type { CohortSourceConfig } from '../config/cohort-source.ts';
import { MissingEnvError, referencedVariables } from '../config/env.ts';
import {
  WORKER_ENV_SETTINGS,
  cohortFilePath,
  isAllowedHost,
  overrideProblem,
  resolveAllowed,
  workerEnvPolicy,
} from '../config/worker-env.ts';
import { amplitudeCohortSource } from './amplitude.ts';
import type { AmplitudeSourceOptions } from './amplitude.ts';
import { CohortSourceError } from './errors.ts';
import { fileCohortSource } from './file.ts';
import { postgresCohortSource } from './postgres.ts';
import type { PostgresSourceOptions } from './postgres.ts';
import type { CohortSource } from './source.ts';
import { urlCohortSource } from './url.ts';

export type { CohortSourceConfig, CohortSourceConfigInput, CohortFormat } from '../config/cohort-source.ts';
export {
  CohortSourceConfig as CohortSourceConfigSchema,
  cohortSourceVariables,
} from '../config/cohort-source.ts';
export { CohortSourceError, isRetryableReason } from './errors.ts';
export type { CohortErrorReason } from './errors.ts';
export { DEFAULT_CHUNK_SIZE } from './source.ts';
export type { CohortProgress, CohortReadOptions, CohortReadStats, CohortSource } from './source.ts';

export interface OpenCohortSourceOptions {
  /** Base for a relative CIO_SYNC_COHORT_DIR. Default: the working directory. */
  cwd?: string;
  amplitude?: AmplitudeSourceOptions;
  postgres?: PostgresSourceOptions;
}

/**
 * Throws CohortSourceError (`config`) when a referenced variable is unset or not allowed, or the
 * config cannot work. The worker's policy (config/worker-env.ts) decides which variables cohort
 * fields may read, where credentials may be sent, and which files may be read.
 */
export function openCohortSource(
  config: CohortSourceConfig,
  env: NodeJS.ProcessEnv = process.env,
  options: OpenCohortSourceOptions = {},
): CohortSource {
  const policy = workerEnvPolicy(env, options.cwd);
  const refuse = (message: string): never => {
    throw new CohortSourceError('config', message);
  };
  const resolve = (value: string, what: string) => {
    try {
      return resolveAllowed(value, what, env, policy.cohortVariables, WORKER_ENV_SETTINGS.cohortVariables);
    } catch (err) {
      if (err instanceof MissingEnvError) throw new CohortSourceError('config', err.message, { cause: err });
      throw err;
    }
  };
  switch (config.from) {
    case 'amplitude': {
      const problem = config.url && overrideProblem(config.url, 'cohort.url', policy);
      if (problem) refuse(problem);
      return amplitudeCohortSource(
        {
          config,
          apiKey: resolve(config.apiKey, 'cohort.apiKey'),
          secretKey: resolve(config.secretKey, 'cohort.secretKey'),
        },
        options.amplitude,
      );
    }
    case 'file': {
      // A path needs no secret, and a variable in it would end up in error messages: not resolved.
      if (referencedVariables(config.path).length > 0) {
        refuse('cohort.path: ${VAR} references are not resolved in a file path');
      }
      const file = cohortFilePath(config.path, policy);
      if (!file.ok) return refuse(file.message);
      return fileCohortSource({ ...config, path: file.path }, { baseDir: file.base });
    }
    case 'url': {
      const url = resolve(config.url, 'cohort.url');
      if (!/^https?:\/\/[^/]/i.test(url)) {
        throw new CohortSourceError(
          'config',
          'cohort.url: expected an http(s) URL once its variables are resolved',
        );
      }
      const headers: Record<string, string> = {};
      let references = referencedVariables(config.url).length > 0;
      for (const [name, value] of Object.entries(config.headers)) {
        references ||= referencedVariables(value).length > 0;
        headers[name.toLowerCase()] = resolve(value, `cohort.headers.${name}`);
      }
      // A token goes only where the worker says tokens may go.
      if (references && !isAllowedHost(url, policy.cohortUrlHosts)) {
        refuse(
          `cohort.url: its \${VAR} references are resolved only for hosts in ${WORKER_ENV_SETTINGS.cohortUrlHosts}`,
        );
      }
      return urlCohortSource({ config, url, headers });
    }
    case 'postgres':
      return postgresCohortSource(
        { config, connectionString: resolve(config.connectionString, 'cohort.connectionString') },
        options.postgres,
      );
  }
}

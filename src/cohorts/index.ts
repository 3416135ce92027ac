/**
 * Opens the cohort source a sync's `cohort:` config describes. `${ENV_VAR}` references are resolved
 * here, from `env` — the environment of the worker that reads the cohort — and never written back
 * into anything that reaches Temporal.
 */
import { MissingEnvError, resolveEnv } from '../config/env.ts';
import { amplitudeCohortSource } from './amplitude.ts';
import type { AmplitudeSourceOptions } from './amplitude.ts';
import type { CohortSourceConfig } from './config.ts';
import { CohortSourceError } from './errors.ts';
import { fileCohortSource } from './file.ts';
import { postgresCohortSource } from './postgres.ts';
import type { PostgresSourceOptions } from './postgres.ts';
import type { CohortSource } from './source.ts';
import { urlCohortSource } from './url.ts';

export type { CohortSourceConfig, CohortSourceConfigInput, CohortFormat } from './config.ts';
export { CohortSourceConfig as CohortSourceConfigSchema, cohortSourceVariables } from './config.ts';
export { CohortSourceError, isRetryableReason } from './errors.ts';
export type { CohortErrorReason } from './errors.ts';
export { DEFAULT_CHUNK_SIZE } from './source.ts';
export type { CohortProgress, CohortReadOptions, CohortReadStats, CohortSource } from './source.ts';

export interface OpenCohortSourceOptions {
  /** Base for a relative file path. Default: the working directory. */
  cwd?: string;
  amplitude?: AmplitudeSourceOptions;
  postgres?: PostgresSourceOptions;
}

/** Throws CohortSourceError (`config`) when a referenced variable is unset or the config cannot work. */
export function openCohortSource(
  config: CohortSourceConfig,
  env: NodeJS.ProcessEnv = process.env,
  options: OpenCohortSourceOptions = {},
): CohortSource {
  const resolve = (value: string, what: string) => {
    try {
      return resolveEnv(value, what, env);
    } catch (err) {
      if (err instanceof MissingEnvError) throw new CohortSourceError('config', err.message, { cause: err });
      throw err;
    }
  };
  switch (config.from) {
    case 'amplitude':
      return amplitudeCohortSource(
        {
          config,
          apiKey: resolve(config.apiKey, 'cohort.apiKey'),
          secretKey: resolve(config.secretKey, 'cohort.secretKey'),
        },
        options.amplitude,
      );
    case 'file':
      return fileCohortSource(
        { ...config, path: resolve(config.path, 'cohort.path') },
        options.cwd !== undefined ? { cwd: options.cwd } : {},
      );
    case 'url': {
      const url = resolve(config.url, 'cohort.url');
      if (!/^https?:\/\/[^/]/i.test(url)) {
        throw new CohortSourceError(
          'config',
          'cohort.url: expected an http(s) URL once its variables are resolved',
        );
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(config.headers)) {
        headers[name.toLowerCase()] = resolve(value, `cohort.headers.${name}`);
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

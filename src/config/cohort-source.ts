import { z } from 'zod';

import { isSecretReference, referencedVariables } from './env.ts';
import { Duration, HttpUrl, SECRET_REFERENCE_MESSAGE, SecretRef } from './fields.ts';

/**
 * Where a cohort sync reads its members from: the `cohort:` field of a `type: cohort` sync. Like the
 * rest of the config it travels to Temporal as written, so secrets are `${ENV_VAR}` references that
 * only the source resolves, at run time, in the worker that reads the cohort.
 */

/** An http(s) URL; `${VAR}` references inside it (a token in the query, say) are checked at run time. */
const HttpUrlWithRefs = z.string().refine((value) => {
  // Each reference stands for something URL-safe while checking the shape.
  const probe = value.replace(/\$\{[^}]*\}/g, 'x');
  try {
    const url = new URL(probe);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}, 'expected an http(s) URL');

/** YAML reads `cohortId: 123456` as a number; Amplitude's ids are strings. */
const CohortId = z
  .union([z.string(), z.number().int().nonnegative()])
  .transform(String)
  .pipe(
    z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected an Amplitude cohort id (letters, digits, - and _)'),
  );

export const COHORT_FORMATS = ['csv', 'json', 'ndjson'] as const;
export type CohortFormat = (typeof COHORT_FORMATS)[number];

const Format = z.enum(COHORT_FORMATS);
const Column = z.string().trim().min(1);

/** Header names whose value is a credential: a literal one would reach Temporal's history. */
const SECRET_HEADER = /^(authorization|proxy-authorization|cookie)$|key|token|secret|password|auth/i;

const Headers = z
  .record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected an HTTP header name'), z.string())
  .superRefine((headers, ctx) => {
    for (const [name, value] of Object.entries(headers)) {
      if (SECRET_HEADER.test(name) && !isSecretValueReference(value)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `header ${name} carries a secret: ${SECRET_REFERENCE_MESSAGE}`,
        });
      }
    }
  });

/** `${TOKEN}`, or a scheme in front of one: `Bearer ${TOKEN}`. Nothing else literal. */
function isSecretValueReference(value: string): boolean {
  if (isSecretReference(value)) return true;
  const match = /^(Bearer|Basic|Token|Bot)\s+(\S.*)$/i.exec(value.trim());
  return match !== null && isSecretReference(match[2] as string);
}

export const AmplitudeCohortSource = z.strictObject({
  from: z
    .literal('amplitude')
    .describe(
      "`amplitude`: Amplitude's Behavioral Cohorts API: request the export, poll until ready, download (following the pre-signed link, asking again when it expired)",
    ),
  cohortId: CohortId.describe('the Amplitude cohort id'),
  /** Project API key (Basic auth user). */
  apiKey: SecretRef.describe("`${VAR}`: the project's API key (Basic auth user)"),
  /** Project secret key (Basic auth password). */
  secretKey: SecretRef.describe("`${VAR}`: the project's secret key (Basic auth password)"),
  region: z.enum(['us', 'eu']).default('us').describe("`us` or `eu`: the project's data region"),
  /** Overrides the region's host (proxies, tests). */
  url: HttpUrl.optional().describe(
    "overrides the region's host (proxies, tests); used only for a host the worker lists in `CIO_SYNC_OVERRIDE_HOSTS`",
  ),
  /**
   * The export's column that holds the id: `user_id` (default), `amplitude_id`, or a user property,
   * which is then asked for with `props=1&propKeys=<name>`.
   */
  idProperty: Column.default('user_id').describe(
    "the export's column that holds the id: `user_id`, `amplitude_id`, or a user property",
  ),
  /** Between status polls. Amplitude allows 60 cohort requests per 10 minutes per project. */
  pollInterval: Duration.default(5_000).describe(
    'between status polls (Amplitude allows 60 cohort requests per 10 minutes per project)',
  ),
  /** For the export to be ready (request + polling), before the read fails as a retryable timeout. */
  timeout: Duration.default(30 * 60_000).describe(
    'for the export to be ready (request and polling) before the read fails as a retryable timeout',
  ),
});
export type AmplitudeCohortSource = z.infer<typeof AmplitudeCohortSource>;

export const FileCohortSource = z.strictObject({
  from: z.literal('file').describe('`file`: a CSV, JSON or NDJSON file the worker reads'),
  /** Relative paths are resolved against the worker's working directory. */
  path: z.string().min(1).describe("below the worker's `CIO_SYNC_COHORT_DIR`, relative to it; no `${VAR}`"),
  /** Default from the extension: .csv, .json, .ndjson/.jsonl (a trailing .gz is looked through). */
  format: Format.optional().describe(
    '`csv`, `json` or `ndjson`; default by the extension (`.ndjson`/`.jsonl` are NDJSON; a trailing `.gz` is looked through)',
  ),
  /** Id column (CSV) or key (objects); default `id`, else `user_id`. */
  column: Column.optional().describe(
    'the CSV header or object key that holds the id; default `id`, else `user_id`',
  ),
});
export type FileCohortSource = z.infer<typeof FileCohortSource>;

export const UrlCohortSource = z.strictObject({
  from: z.literal('url').describe('`url`: a CSV, JSON or NDJSON document fetched with a GET'),
  url: HttpUrlWithRefs.describe(
    'an http(s) URL; `${VAR}` references in it are resolved by the worker, and sent only to `CIO_SYNC_COHORT_URL_HOSTS`',
  ),
  /** Default from the URL's extension, else the answer's content type. */
  format: Format.optional().describe(
    "`csv`, `json` or `ndjson`; default from the URL's extension, else the answer's content type",
  ),
  column: Column.optional().describe('as for `file`'),
  /**
   * Sent with the GET (to the URL's origin only, not after a redirect to another host). Credentials
   * (Authorization, *key*, *token*, …) must be `${ENV_VAR}` references, optionally after an auth scheme:
   * `Bearer ${TOKEN}`.
   */
  headers: Headers.default({}).describe(
    "sent with the GET, to the URL's origin only; credential headers (`Authorization`, `*key*`, `*token*`, …) must be `${VAR}` references, optionally after a scheme: `Bearer ${TOKEN}`",
  ),
  /** Per request: connect, headers, and the longest pause between body chunks. */
  timeout: Duration.default(60_000).describe(
    'per request: connect, headers, and the longest pause between body chunks',
  ),
});
export type UrlCohortSource = z.infer<typeof UrlCohortSource>;

export const PostgresCohortSource = z.strictObject({
  from: z.literal('postgres').describe('`postgres`: a query on a PostgreSQL database'),
  connectionString: SecretRef.describe('`${VAR}`: the connection string'),
  /**
   * One SELECT (or VALUES/TABLE) returning exactly one column, the member id; it runs in a read-only
   * transaction through a cursor, so it may return millions of rows.
   */
  query: z
    .string()
    .trim()
    .min(1)
    .describe(
      'one SELECT (or VALUES/TABLE) returning exactly one column, the member id, read through a cursor in a read-only transaction',
    ),
});
export type PostgresCohortSource = z.infer<typeof PostgresCohortSource>;

export const CohortSourceConfig = z.discriminatedUnion('from', [
  AmplitudeCohortSource,
  FileCohortSource,
  UrlCohortSource,
  PostgresCohortSource,
]);
export type CohortSourceConfig = z.infer<typeof CohortSourceConfig>;
/** What a config file may write (defaults not yet applied). */
export type CohortSourceConfigInput = z.input<typeof CohortSourceConfig>;

/** The environment variables a source needs at run time (for `validate`/`doctor`-style checks). */
export function cohortSourceVariables(config: CohortSourceConfig): string[] {
  const values: string[] = [];
  switch (config.from) {
    case 'amplitude':
      values.push(config.apiKey, config.secretKey);
      break;
    case 'url':
      values.push(config.url, ...Object.values(config.headers));
      break;
    case 'postgres':
      values.push(config.connectionString);
      break;
    case 'file':
      values.push(config.path);
      break;
  }
  return [...new Set(values.flatMap(referencedVariables))];
}

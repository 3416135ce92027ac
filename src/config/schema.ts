import { z } from 'zod';

import { parseCadence, type Cadence } from './cadence.ts';
import { CohortSourceConfig } from './cohort-source.ts';
import { Duration, HttpUrl, Id, SecretRef } from './fields.ts';
import { Source } from './source-schema.ts';
import { StreamSync } from './stream-sync-schema.ts';

export * from './source-schema.ts';
export * from './stream-sync-schema.ts';
export { PropertySelection } from './fields.ts';

/**
 * The config file's schema. What it parses to is what the CLI sends to Temporal as a sync's
 * config, so secrets must be `${ENV_VAR}` references: a literal key is rejected here, before it can
 * reach workflow input or history. Every spec a workflow is started or updated with is checked
 * against this same schema (spec-validation.ts, in an activity), so it must stay free of I/O.
 */

export const Destination = z.strictObject({
  id: Id.describe('letters, digits, `-` and `_` (1 to 63 characters)'),
  siteId: z.string().min(1).describe('Track API site id (a `${VAR}` reference or a literal)'),
  trackApiKey: SecretRef.describe('`${VAR}`: Track API key'),
  /** App API key; cohort syncs that create segments need it. */
  appApiKey: SecretRef.optional().describe(
    '`${VAR}`: App API key; cohort syncs that create segments need it',
  ),
  /** `auto` asks Customer.io which region the Track credentials belong to. */
  region: z
    .enum(['us', 'eu', 'auto'])
    .default('us')
    .describe('`us`, `eu`, or `auto` (asks `/api/v1/accounts/region` with the Track credentials)'),
  trackUrl: HttpUrl.optional().describe(
    'overrides the Track API host (proxies, tests); used only for a host the worker lists in `CIO_SYNC_OVERRIDE_HOSTS`, and not changeable by `updateConfig`',
  ),
  appUrl: HttpUrl.optional().describe('overrides the App API host, on the same terms as `trackUrl`'),
  /**
   * `true` records the exact requests in the store instead of sending them; `auto` does so only
   * while the credentials' environment variables are unset in the worker.
   */
  dryRun: z
    .union([z.boolean(), z.literal('auto')])
    .default(false)
    .describe(
      "`true` records requests in the store instead of sending; `auto` is decided when the config is applied (`apply`, `make start`): a dry run when the applier's environment lacks `siteId` or `trackApiKey`, live otherwise. The decision is recorded in the sync's spec, so a worker without the credentials holds a live sync as `credentials_missing` rather than recording it",
    ),
  /** Track API requests per second, shared by every worker (Customer.io's fair-use guidance). */
  requestsPerSecond: z
    .number()
    .positive()
    .max(1000)
    .default(100)
    .describe(
      'Track API requests/s, held across all workers (shared GCRA in the store, paced at 95 %; each worker also keeps any one second of its own sends under that)',
    ),
  /** App API requests per second (Customer.io answers 429 above 10/s). */
  appRequestsPerSecond: z
    .number()
    .positive()
    .max(10)
    .default(10)
    .describe('App API requests/s (at most 10: Customer.io answers 429 above that)'),
  timeout: Duration.default(10_000).describe('per request'),
});
export type Destination = z.infer<typeof Destination>;

const CadenceField = z.union([z.string(), z.number()]).transform((value, ctx): Cadence => {
  const parsed = parseCadence(String(value));
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed });
    return z.NEVER;
  }
  // A cron line's fields are checked in full by the loader (load.ts): this schema is also what the
  // workflows validate specs with, and the cron library cannot enter their sandbox.
  return parsed;
});

export const CohortSync = z
  .strictObject({
    id: Id.describe('letters, digits, `-` and `_` (1 to 63 characters)'),
    type: z.literal('cohort').describe('`cohort`'),
    name: z.string().optional().describe('memo in the Web UI; default: the id'),
    destination: Id.describe('the id of the destination it writes to'),
    status: z.enum(['enabled', 'paused']).default('enabled').describe('`enabled` or `paused`'),
    /** Where the members come from (Amplitude export, file, URL, PostgreSQL query). */
    cohort: CohortSourceConfig.describe('where members come from, by `from:` (the sections below)'),
    /** `segment`: a Customer.io manual segment (Amplitude's behaviour); `attribute`: a person attribute (Segment audiences). */
    target: z
      .enum(['segment', 'attribute'])
      .default('segment')
      .describe(
        "`segment`: a Customer.io manual segment (Amplitude's behaviour); `attribute`: a person attribute set `true` on joining and `false` on leaving (Segment audiences)",
      ),
    /** An existing manual segment `id`, or a `name` to create once through the App API. */
    segment: z
      .strictObject({
        id: z.number().int().positive().optional().describe("an existing manual segment's id"),
        name: z
          .string()
          .min(1)
          .optional()
          .describe(
            "a segment created once through the App API (needs the destination's `appApiKey`); its id is kept in the store and found again by its description after a crash, so it is never created twice",
          ),
      })
      .optional()
      .describe('the segment of the `segment` target: `id` or `name`'),
    /** Attribute set `true` on joining and `false` on leaving; default: the snake_cased segment/sync name. */
    attribute: z
      .string()
      .min(1)
      .max(150)
      .optional()
      .describe('the attribute of the `attribute` target; default: the snake_cased segment or sync name'),
    /** What the member ids are in Customer.io. */
    idType: z
      .enum(['id', 'email', 'cio_id'])
      .default('id')
      .describe(
        "`id`, `email` or `cio_id`: what the member ids are; ids that break Customer.io's rules for it (over 150 bytes, not an email…) are counted as skipped, not sent",
      ),
    /** Identify each joiner before adding it, so Customer.io does not silently ignore unknown people. */
    identifyJoiners: z
      .boolean()
      .default(false)
      .describe(
        'identify each joiner before adding it: Customer.io silently ignores unknown people in a segment add',
      ),
    cadence: CadenceField.default({ kind: 'interval', everyMs: 86_400_000 }).describe(
      '`once`, `hourly`, `daily`, an interval (`15m`) or a 5-field cron line (UTC); `run SYNC` runs it now',
    ),
    /** Ids per add/remove request (Customer.io accepts at most 1000). */
    chunkSize: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(1000)
      .describe("ids per add/remove request (Customer.io's maximum is 1000)"),
    /**
     * Apply a run whose cohort came back empty although the last one had members. Off by default:
     * an empty export is more often a broken source (wrong column, failed query) than everyone leaving.
     */
    allowEmpty: z
      .boolean()
      .default(false)
      .describe(
        'apply a run that found no members although the last one had some (off: an empty export is usually a broken source)',
      ),
    /**
     * A run that would remove more than this share of the segment's members is held
     * (`held_large_removal`) until `cio-sync run <sync> --confirm` or a config change: a truncated
     * file or a source that answered one page looks like most people leaving. `0` turns it off.
     */
    maxRemovalRatio: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe(
        "a run that would remove more than this share of the last run's members is held as `held_large_removal` until `run SYNC --confirm` or a config change (a truncated file looks like everyone leaving); `0` turns it off",
      ),
    /** How often a held or stalled cohort sync tries again (sooner on resume, run now or a new config). */
    retryEvery: Duration.default(60_000).describe(
      'how often a held or stalled run tries again, keeping its progress (sooner on `run`, `resume` or a config update)',
    ),
  })
  .superRefine((sync, ctx) => {
    if (sync.target === 'segment' && sync.segment?.id === undefined && sync.segment?.name === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['segment'],
        message: 'a segment target needs segment.id or segment.name',
      });
    }
  });
export type CohortSync = z.infer<typeof CohortSync>;

export const Sync = z.discriminatedUnion('type', [StreamSync, CohortSync]);
export type Sync = z.infer<typeof Sync>;

const DAY_MS = 86_400_000;

/** The event log's upkeep. */
export const LogSettings = z.strictObject({
  /**
   * How long a log entry is kept once every stream sync reading its source has passed it: the
   * window `replay` and `reset` can reach back into. Older entries are pruned in the background.
   */
  retention: Duration.default(7 * DAY_MS)
    .refine((ms) => ms >= 60_000, 'must be at least 1m')
    .describe(
      'how long an entry of the event log is kept once every running stream sync reading its source has passed it (at least `1m`): the window `replay` and `reset` reach back into. Each stream sync prunes its source every 10 minutes (every half retention when shorter) in chunks of 5,000 entries, beside ingest and delivery',
    ),
});
export type LogSettings = z.infer<typeof LogSettings>;

export const Config = z
  .strictObject({
    log: LogSettings.default({ retention: 7 * DAY_MS }),
    sources: z.array(Source).default([]),
    destinations: z.array(Destination).default([]),
    syncs: z.array(Sync).default([]),
  })
  .superRefine((config, ctx) => {
    const unique = (items: { id: string }[], key: string) => {
      const seen = new Set<string>();
      items.forEach((item, i) => {
        if (seen.has(item.id))
          ctx.addIssue({ code: 'custom', path: [key, i, 'id'], message: `duplicate id "${item.id}"` });
        seen.add(item.id);
      });
    };
    unique(config.sources, 'sources');
    unique(config.destinations, 'destinations');
    unique(config.syncs, 'syncs');
    const sources = new Set(config.sources.map((s) => s.id));
    const destinations = new Set(config.destinations.map((d) => d.id));
    config.syncs.forEach((sync, i) => {
      if (sync.type === 'cohort') {
        const destination = config.destinations.find((d) => d.id === sync.destination);
        if (!destination) {
          ctx.addIssue({
            code: 'custom',
            path: ['syncs', i, 'destination'],
            message: `unknown destination "${sync.destination}" (destinations: ${[...destinations].join(', ') || 'none'})`,
          });
        } else if (sync.target === 'segment' && sync.segment?.id === undefined && !destination.appApiKey) {
          ctx.addIssue({
            code: 'custom',
            path: ['syncs', i, 'segment'],
            message: `creating segment "${sync.segment?.name}" needs destination ${destination.id} to have an appApiKey`,
          });
        }
        return;
      }
      if (!sources.has(sync.source)) {
        ctx.addIssue({
          code: 'custom',
          path: ['syncs', i, 'source'],
          message: `unknown source "${sync.source}" (sources: ${[...sources].join(', ') || 'none'})`,
        });
      }
      if (!destinations.has(sync.destination)) {
        ctx.addIssue({
          code: 'custom',
          path: ['syncs', i, 'destination'],
          message: `unknown destination "${sync.destination}" (destinations: ${[...destinations].join(', ') || 'none'})`,
        });
      }
    });
  });
export type Config = z.infer<typeof Config>;

/** What a stream-sync workflow carries: the sync with its destination (references only, no secrets). */
export interface StreamSyncSpec {
  sync: StreamSync;
  destination: Destination;
  /** The config's `log` settings (absent in specs written before it existed: the defaults apply). */
  log?: LogSettings;
}

/** What a cohort-sync workflow carries. */
export interface CohortSyncSpec {
  sync: CohortSync;
  destination: Destination;
}

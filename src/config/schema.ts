import { z } from 'zod';

import { parseCadence, type Cadence } from './cadence.ts';
import { CohortSourceConfig } from './cohort-source.ts';
import { Duration, HttpUrl, SecretRef } from './fields.ts';

/**
 * The config file's schema. What it parses to is what the CLI sends to Temporal as a sync's
 * config, so secrets must be `${ENV_VAR}` references: a literal key is rejected here, before it can
 * reach workflow input or history. Every spec a workflow is started or updated with is checked
 * against this same schema (spec-validation.ts, in an activity), so it must stay free of I/O.
 */

const Id = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/,
    'expected an id of letters, digits, "-" and "_" (1 to 63 characters)',
  );

/** `*` selects every property; a list selects those names; an empty list sends none. */
export const PropertySelection = z.union([z.literal('*'), z.array(z.string().min(1))]);
export type PropertySelection = z.infer<typeof PropertySelection>;

/** HTTP header names as RFC 9110 allows them (a token), matched without regard to case. */
const HeaderName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/, 'expected an HTTP header name such as X-Webhook-Secret');

/**
 * Amplitude's Webhook streaming destination: it can only authenticate with a header the user
 * sets, so the source names the header and the secret its value must equal.
 */
export const AmplitudeWebhook = z.strictObject({
  header: HeaderName.default('X-Webhook-Secret').describe(
    "the header Amplitude's Webhook destination is set to send",
  ),
  secret: SecretRef.describe('`${VAR}`: the value that header must carry'),
});

/** Segment's Webhooks destinations sign each request (`X-Signature`) with this shared secret. */
export const SegmentWebhook = z.strictObject({
  sharedSecret: SecretRef.describe('`${VAR}`: the secret Segment signs each request with (`X-Signature`)'),
});

/** The platforms' own outbound destinations that may post to this source (docs/connect-sources.md). */
export const SourceWebhooks = z.strictObject({
  amplitude: AmplitudeWebhook.optional().describe(
    "Amplitude's Webhook destination, posting to `/webhooks/amplitude/<source>`",
  ),
  segment: SegmentWebhook.optional().describe(
    "Segment's Webhooks (Actions) or classic Webhooks, posting to `/webhooks/segment/<source>`",
  ),
});

export const Source = z.strictObject({
  id: Id.describe('letters, digits, `-` and `_` (1 to 63 characters)'),
  /** What the Amplitude SDK sends as `api_key`, or the Segment write key. */
  apiKey: SecretRef.describe(
    '`${VAR}`: what the Amplitude SDK sends as `api_key`, or the Segment write key; ingest does not start while it is unset',
  ),
  /**
   * The secret half of the HTTP Basic credentials (`apiKey:secretKey`) that Amplitude's User Privacy
   * API (`POST /api/2/deletions/users`) takes, as Amplitude's own uses the project's secret key. No
   * secret: the source accepts no deletion requests.
   */
  secretKey: SecretRef.optional().describe(
    "`${VAR}`: the secret of Amplitude's User Privacy API (Basic `apiKey:secretKey`, as Amplitude's uses the project's secret key); without it (or with the variable unset or empty) the source accepts no deletion requests",
  ),
  name: z.string().optional().describe('free text'),
  /** Webhook receivers: `POST /webhooks/amplitude/<id>` and `POST /webhooks/segment/<id>`. */
  webhooks: SourceWebhooks.optional().describe(
    'the webhook receivers of [connect-sources.md](connect-sources.md); ingest does not start while a secret is unset',
  ),
  /**
   * Whether every route stores an insert id (`insert_id`, `$insert_id`, `messageId`) once: a record
   * the log already holds is acknowledged, not appended again. Default: on for a source with
   * webhooks (one event can arrive by several doors and webhook retries), off otherwise (keying
   * costs SQLite appends about four times their time; Customer.io still deduplicates by event id).
   * Backfills always store an insert id once.
   */
  dedupe: z
    .boolean()
    .optional()
    .describe(
      'store each insert id (`insert_id`, `$insert_id`, `messageId`) once on every route: a record the log holds is acknowledged, not appended again. Default: on for a source with `webhooks`, off otherwise; off, appends are about four times cheaper on SQLite and Customer.io still deduplicates events by id. Backfills always store an insert id once',
    ),
  /**
   * Amplitude's Export API, for `cio-sync backfill`: the project's data region (the API key and
   * `secretKey` above are its Basic credentials), or `exportUrl` to point it elsewhere.
   */
  region: z
    .enum(['us', 'eu'])
    .default('us')
    .describe(
      '`us` or `eu`: the Amplitude Export API host `cio-sync backfill` asks (with `apiKey:secretKey`)',
    ),
  exportUrl: HttpUrl.optional().describe(
    'another Export API URL (tests, proxies); the worker sends credentials to it only when `CIO_SYNC_OVERRIDE_HOSTS` lists its host',
  ),
});
export type Source = z.infer<typeof Source>;

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

export const WHERE_OPERATORS = [
  'equals',
  'not_equals',
  'in',
  'not_in',
  'contains',
  'exists',
  'not_exists',
  'greater_than',
  'less_than',
] as const;

export const WhereCondition = z
  .strictObject({
    /** A path into the record: `event_properties.plan`, `user_properties.email`, `user_id`, … */
    property: z.string().min(1).describe('a path into the record'),
    op: z.enum(WHERE_OPERATORS).describe('the comparison'),
    value: z.unknown().optional().describe('what it compares with'),
  })
  .superRefine((cond, ctx) => {
    const need = (ok: boolean, what: string) => {
      if (!ok) ctx.addIssue({ code: 'custom', path: ['value'], message: `op "${cond.op}" needs ${what}` });
    };
    switch (cond.op) {
      case 'equals':
      case 'not_equals':
        need(cond.value !== undefined, 'a value');
        break;
      case 'in':
      case 'not_in':
        need(Array.isArray(cond.value), 'a list of values');
        break;
      case 'contains':
        need(typeof cond.value === 'string', 'a string value');
        break;
      case 'greater_than':
      case 'less_than':
        need(typeof cond.value === 'number', 'a number value');
        break;
      case 'exists':
      case 'not_exists':
        break;
    }
  });
export type WhereCondition = z.infer<typeof WhereCondition>;

export const EventFilter = z.strictObject({
  /** Only these event types (after page/screen naming: `Page Viewed` etc. are matched as sent). */
  eventTypes: z
    .array(z.string().min(1))
    .optional()
    .describe(
      "only these event types (default: all); a record matches by any name it goes by: what is sent, the source's event type, and `Viewed … Page/Screen`",
    ),
  excludeEventTypes: z.array(z.string().min(1)).default([]).describe('never these'),
  /** Amplitude's recommended "user ID is present" filter. */
  requireUserId: z.boolean().default(false).describe('Amplitude\'s "user ID is present" filter'),
  where: z
    .array(WhereCondition)
    .default([])
    .describe(
      "`{ property, op, value }` conditions: `property` a path into the record (`event_properties.plan`, `user_properties.email`, `user_id`, …), `op` one of `equals`, `not_equals`, `in`, `not_in`, `contains`, `exists`, `not_exists`, `greater_than`, `less_than`. Missing and `null` properties count as absent; comparisons are typed (`'5'` is not `5`)",
    ),
});
export type EventFilter = z.infer<typeof EventFilter>;

const DEFAULT_PAGE_VIEW_TYPES = ['[Amplitude] Page Viewed'];

const EventNames = z.array(z.string().min(1));

/**
 * Segment's semantic events that Customer.io's Actions destination (and Customer.io's own Data
 * Pipelines) turn into deletes and suppressions, by the names that trigger each. An empty list turns
 * one off; `send: false` turns them all off (the calls are then ordinary events).
 */
export const SemanticEvents = z.strictObject({
  send: z
    .boolean()
    .default(true)
    .describe(
      "Segment's semantic deletion events → Customer.io deletes and suppressions ([deletions.md](deletions.md)); `false`: they are ordinary events",
    ),
  userDeleted: EventNames.default(['User Deleted']).describe(
    'track event names that delete the person (`delete`); `[]` turns one off',
  ),
  userSuppressed: EventNames.default(['User Suppressed']).describe('… suppress the person (`suppress`)'),
  userUnsuppressed: EventNames.default(['User Unsuppressed']).describe('… unsuppress them (`unsuppress`)'),
  objectDeleted: EventNames.default(['Object Deleted']).describe(
    '… delete the object `properties.objectId` of type `object_type_id`/`objectTypeId` (default `"1"`)',
  ),
  relationshipDeleted: EventNames.default(['Relationship Deleted']).describe(
    "… delete the person's relationship to that object (`delete_relationships`)",
  ),
});
export type SemanticEvents = z.infer<typeof SemanticEvents>;

export const StreamEvents = z.strictObject({
  send: z.boolean().default(true).describe('forward track/page/screen calls'),
  filter: EventFilter.default({ excludeEventTypes: [], requireUserId: false, where: [] }),
  properties: z
    .strictObject({
      event: PropertySelection.default([]).describe(
        "event property names sent as event data, or `'*'` for all; none unless selected",
      ),
      user: PropertySelection.default([]).describe("user properties sent as event data, or `'*'`"),
      group: PropertySelection.default([]).describe("group properties sent as event data, or `'*'`"),
    })
    .default({ event: [], user: [], group: [] }),
  pageViews: z
    .strictObject({
      /** `page` sends Customer.io page views; `event` sends plain events as Amplitude's integration does. */
      as: z
        .enum(['page', 'event'])
        .default('page')
        .describe(
          "`page` (Customer.io page views) or `event` (plain events, as Amplitude's integration sends them)",
        ),
      /** Amplitude event types treated as page views, besides Segment `page` calls. */
      eventTypes: z
        .array(z.string().min(1))
        .default(DEFAULT_PAGE_VIEW_TYPES)
        .describe('Amplitude event types treated as page views, besides Segment `page` calls'),
    })
    .default({ as: 'page', eventTypes: DEFAULT_PAGE_VIEW_TYPES }),
  screenViews: z
    .strictObject({
      /** `event` sends `Viewed {name} Screen` (Segment's classic destination); `screen` sends native screen views. */
      as: z
        .enum(['event', 'screen'])
        .default('event')
        .describe('`event` sends `Viewed {name} Screen`; `screen` sends native screen views'),
      eventTypes: z
        .array(z.string().min(1))
        .default(['[Amplitude] Screen Viewed'])
        .describe('Amplitude event types treated as screen views'),
    })
    .default({ as: 'event', eventTypes: ['[Amplitude] Screen Viewed'] }),
  /** Segment Application Installed/Opened/Uninstalled with a push token → Customer.io devices. */
  devices: z
    .boolean()
    .default(true)
    .describe(
      'Segment `Application Installed/Opened` with `context.device.token` → add/update device; `Application Uninstalled` → delete',
    ),
  /** Segment `alias` → merge people. */
  merges: z.boolean().default(true).describe('Segment `alias` → merge people'),
  /** Segment `group` → an object related to the person. */
  groups: z.boolean().default(true).describe('Segment `group` → object related to the person'),
  /** Segment `User Deleted`/`User Suppressed`/… → Customer.io person and object deletes. */
  semantic: SemanticEvents.default(SemanticEvents.parse({})),
});
export type StreamEvents = z.infer<typeof StreamEvents>;

export const StreamUsers = z.strictObject({
  send: z
    .boolean()
    .default(false)
    .describe(
      'forward users as person attributes: Segment `identify`, Amplitude `$identify` and Identify API calls, and the `user_properties` of Amplitude events (an identify before the event); only when a selected attribute changed',
    ),
  properties: PropertySelection.default([]).describe(
    "selected traits / user properties, or `'*'`; Segment's `email`, `created_at`, `unsubscribed` (and `id` by `cio_`) and Engage audience traits always pass",
  ),
  /** Send every attribute value as a string, as Amplitude's own destination does. */
  stringify: z
    .boolean()
    .default(false)
    .describe(
      "send every attribute as a string (Amplitude's own behaviour); by default values keep their JSON types",
    ),
  /** Amplitude User Privacy API deletions stored in the source's log → Customer.io person deletes. */
  deletions: z
    .boolean()
    .default(true)
    .describe(
      "Amplitude User Privacy API deletions in the source's log → a person `delete` each, identified by `identifier`",
    ),
});
export type StreamUsers = z.infer<typeof StreamUsers>;

export const StreamDelivery = z.strictObject({
  /** Records per Customer.io batch request (at most 500 KB). */
  maxRecords: z
    .number()
    .int()
    .min(1)
    .max(5000)
    .default(500)
    .describe('records per request (a request is at most 500 KB)'),
  /**
   * Lanes delivering side by side, records split by the person they concern (each person's order
   * holds within their lane); lanes of one sync can run on different workers. `auto`: one lane
   * while it keeps up, AUTO_MAX_LANES while a backlog lasts, so a hundred quiet syncs do not hold
   * four hundred lanes (and split one request budget four hundred ways).
   */
  lanes: z
    .union([z.literal('auto'), z.number().int().min(1).max(32)])
    .default('auto')
    .describe(
      "lanes delivering side by side, records split by person (each person's order holds); lanes can run on different workers. `auto`: one lane while it keeps up; 4 when a lane's run ends more than 4 full requests behind the log's head (growing resends nothing: the new lanes start at the old lane's cursor); one again after 30 s with every lane idle at the same cursor, so a hundred quiet syncs hold a hundred lanes, not four hundred. A number (1 to 32) fixes the count. Changing it skips nothing (the new lanes start where the slowest old one was). Measured lane counts: [benchmarks.md](benchmarks.md)",
    ),
  /** How long a delivery activity waits for new records before it returns empty. */
  waitFor: Duration.default(10_000).describe(
    'how long an idle sync waits on the log before it looks again; six of these without a record, and it hands back its activity slot and sleeps until one arrives',
  ),
  /**
   * How often a held sync (credentials missing or rejected, destination unreachable) tries again;
   * sooner on resume or a new config.
   */
  credentialsRetry: Duration.default(60_000).describe(
    'retry interval of a held sync: credentials missing in the worker or rejected by Customer.io, destination unreachable (sooner on resume or a config update)',
  ),
});
export type StreamDelivery = z.infer<typeof StreamDelivery>;

export const StreamSync = z.strictObject({
  id: Id.describe('letters, digits, `-` and `_` (1 to 63 characters)'),
  type: z.literal('stream').describe('`stream`'),
  name: z.string().optional().describe("shown as the workflow's memo in the Web UI; default: the id"),
  source: Id.describe('the id of the source whose log it reads'),
  destination: Id.describe('the id of the destination it sends to'),
  status: z
    .enum(['enabled', 'paused'])
    .default('enabled')
    .describe('`enabled` or `paused`; `apply` signals the change'),
  /** Where the Customer.io identifier comes from: `user_id`, `anonymous_id`, `user_properties.email`, … */
  identifier: z
    .string()
    .min(1)
    .default('user_id')
    .describe(
      'where the Customer.io identifier comes from: `user_id`, `anonymous_id`, `user_properties.email`, `event_properties.account_id`, … An email-shaped value is sent as `email`, a `cio_` prefix as `cio_id`, anything else as `id`; over 150 bytes is dead-lettered',
    ),
  /** Send records without the identifier as anonymous events (by `anonymous_id`) instead of filtering them. */
  anonymous: z
    .boolean()
    .default(false)
    .describe('send records without the identifier as anonymous (`anonymous_id`) instead of filtering them'),
  events: StreamEvents.default(StreamEvents.parse({})),
  users: StreamUsers.default({ send: false, properties: [], stringify: false, deletions: true }),
  delivery: StreamDelivery.default({
    maxRecords: 500,
    lanes: 'auto',
    waitFor: 10_000,
    credentialsRetry: 60_000,
  }),
  /**
   * Where a sync with no stored progress starts in its source's log: `now` (when it was created),
   * `beginning`, or an ISO time to backfill from. Ignored once it has progress.
   */
  startFrom: z
    .union([
      z.enum(['now', 'beginning']),
      z.iso.datetime({ offset: true, error: 'expected now, beginning or an ISO time' }),
    ])
    .default('now')
    .describe(
      "where a new sync (no stored progress) starts in its source's log: `now` (when it was created), `beginning`, or an ISO time to backfill from; ignored once it has progress",
    ),
});
export type StreamSync = z.infer<typeof StreamSync>;

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

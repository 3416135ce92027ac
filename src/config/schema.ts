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
  header: HeaderName.default('X-Webhook-Secret'),
  secret: SecretRef,
});

/** Segment's Webhooks destinations sign each request (`X-Signature`) with this shared secret. */
export const SegmentWebhook = z.strictObject({
  sharedSecret: SecretRef,
});

/** The platforms' own outbound destinations that may post to this source (docs/connect-sources.md). */
export const SourceWebhooks = z.strictObject({
  amplitude: AmplitudeWebhook.optional(),
  segment: SegmentWebhook.optional(),
});

export const Source = z.strictObject({
  id: Id,
  /** What the Amplitude SDK sends as `api_key`, or the Segment write key. */
  apiKey: SecretRef,
  /**
   * The secret half of the HTTP Basic credentials (`apiKey:secretKey`) that Amplitude's User Privacy
   * API (`POST /api/2/deletions/users`) takes, as Amplitude's own uses the project's secret key. No
   * secret: the source accepts no deletion requests.
   */
  secretKey: SecretRef.optional(),
  name: z.string().optional(),
  /** Webhook receivers: `POST /webhooks/amplitude/<id>` and `POST /webhooks/segment/<id>`. */
  webhooks: SourceWebhooks.optional(),
  /**
   * Whether every route stores an insert id (`insert_id`, `$insert_id`, `messageId`) once: a record
   * the log already holds is acknowledged, not appended again. Default: on for a source with
   * webhooks (one event can arrive by several doors and webhook retries), off otherwise (keying
   * costs SQLite appends about four times their time; Customer.io still deduplicates by event id).
   * Backfills always store an insert id once.
   */
  dedupe: z.boolean().optional(),
  /**
   * Amplitude's Export API, for `cio-sync backfill`: the project's data region (the API key and
   * `secretKey` above are its Basic credentials), or `exportUrl` to point it elsewhere.
   */
  region: z.enum(['us', 'eu']).default('us'),
  exportUrl: HttpUrl.optional(),
});
export type Source = z.infer<typeof Source>;

export const Destination = z.strictObject({
  id: Id,
  siteId: z.string().min(1),
  trackApiKey: SecretRef,
  /** App API key; cohort syncs that create segments need it. */
  appApiKey: SecretRef.optional(),
  /** `auto` asks Customer.io which region the Track credentials belong to. */
  region: z.enum(['us', 'eu', 'auto']).default('us'),
  trackUrl: HttpUrl.optional(),
  appUrl: HttpUrl.optional(),
  /**
   * `true` records the exact requests in the store instead of sending them; `auto` does so only
   * while the credentials' environment variables are unset in the worker.
   */
  dryRun: z.union([z.boolean(), z.literal('auto')]).default(false),
  /** Track API requests per second, shared by every worker (Customer.io's fair-use guidance). */
  requestsPerSecond: z.number().positive().max(1000).default(100),
  /** App API requests per second (Customer.io answers 429 above 10/s). */
  appRequestsPerSecond: z.number().positive().max(10).default(10),
  timeout: Duration.default(10_000),
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
    property: z.string().min(1),
    op: z.enum(WHERE_OPERATORS),
    value: z.unknown().optional(),
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
  eventTypes: z.array(z.string().min(1)).optional(),
  excludeEventTypes: z.array(z.string().min(1)).default([]),
  /** Amplitude's recommended "user ID is present" filter. */
  requireUserId: z.boolean().default(false),
  where: z.array(WhereCondition).default([]),
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
  send: z.boolean().default(true),
  userDeleted: EventNames.default(['User Deleted']),
  userSuppressed: EventNames.default(['User Suppressed']),
  userUnsuppressed: EventNames.default(['User Unsuppressed']),
  objectDeleted: EventNames.default(['Object Deleted']),
  relationshipDeleted: EventNames.default(['Relationship Deleted']),
});
export type SemanticEvents = z.infer<typeof SemanticEvents>;

export const StreamEvents = z.strictObject({
  send: z.boolean().default(true),
  filter: EventFilter.default({ excludeEventTypes: [], requireUserId: false, where: [] }),
  properties: z
    .strictObject({
      event: PropertySelection.default([]),
      user: PropertySelection.default([]),
      group: PropertySelection.default([]),
    })
    .default({ event: [], user: [], group: [] }),
  pageViews: z
    .strictObject({
      /** `page` sends Customer.io page views; `event` sends plain events as Amplitude's integration does. */
      as: z.enum(['page', 'event']).default('page'),
      /** Amplitude event types treated as page views, besides Segment `page` calls. */
      eventTypes: z.array(z.string().min(1)).default(DEFAULT_PAGE_VIEW_TYPES),
    })
    .default({ as: 'page', eventTypes: DEFAULT_PAGE_VIEW_TYPES }),
  screenViews: z
    .strictObject({
      /** `event` sends `Viewed {name} Screen` (Segment's classic destination); `screen` sends native screen views. */
      as: z.enum(['event', 'screen']).default('event'),
      eventTypes: z.array(z.string().min(1)).default(['[Amplitude] Screen Viewed']),
    })
    .default({ as: 'event', eventTypes: ['[Amplitude] Screen Viewed'] }),
  /** Segment Application Installed/Opened/Uninstalled with a push token → Customer.io devices. */
  devices: z.boolean().default(true),
  /** Segment `alias` → merge people. */
  merges: z.boolean().default(true),
  /** Segment `group` → an object related to the person. */
  groups: z.boolean().default(true),
  /** Segment `User Deleted`/`User Suppressed`/… → Customer.io person and object deletes. */
  semantic: SemanticEvents.default(SemanticEvents.parse({})),
});
export type StreamEvents = z.infer<typeof StreamEvents>;

export const StreamUsers = z.strictObject({
  send: z.boolean().default(false),
  properties: PropertySelection.default([]),
  /** Send every attribute value as a string, as Amplitude's own destination does. */
  stringify: z.boolean().default(false),
  /** Amplitude User Privacy API deletions stored in the source's log → Customer.io person deletes. */
  deletions: z.boolean().default(true),
});
export type StreamUsers = z.infer<typeof StreamUsers>;

export const StreamDelivery = z.strictObject({
  /** Records per Customer.io batch request (at most 500 KB). */
  maxRecords: z.number().int().min(1).max(5000).default(500),
  /**
   * Lanes delivering side by side, records split by the person they concern (each person's order
   * holds within their lane); lanes of one sync can run on different workers. `auto`: one lane
   * while it keeps up, AUTO_MAX_LANES while a backlog lasts, so a hundred quiet syncs do not hold
   * four hundred lanes (and split one request budget four hundred ways).
   */
  lanes: z.union([z.literal('auto'), z.number().int().min(1).max(32)]).default('auto'),
  /** How long a delivery activity waits for new records before it returns empty. */
  waitFor: Duration.default(10_000),
  /**
   * How often a held sync (credentials missing or rejected, destination unreachable) tries again;
   * sooner on resume or a new config.
   */
  credentialsRetry: Duration.default(60_000),
});
export type StreamDelivery = z.infer<typeof StreamDelivery>;

export const StreamSync = z.strictObject({
  id: Id,
  type: z.literal('stream'),
  name: z.string().optional(),
  source: Id,
  destination: Id,
  status: z.enum(['enabled', 'paused']).default('enabled'),
  /** Where the Customer.io identifier comes from: `user_id`, `anonymous_id`, `user_properties.email`, … */
  identifier: z.string().min(1).default('user_id'),
  /** Send records without the identifier as anonymous events (by `anonymous_id`) instead of filtering them. */
  anonymous: z.boolean().default(false),
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
    .default('now'),
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
    id: Id,
    type: z.literal('cohort'),
    name: z.string().optional(),
    destination: Id,
    status: z.enum(['enabled', 'paused']).default('enabled'),
    /** Where the members come from (Amplitude export, file, URL, PostgreSQL query). */
    cohort: CohortSourceConfig,
    /** `segment`: a Customer.io manual segment (Amplitude's behaviour); `attribute`: a person attribute (Segment audiences). */
    target: z.enum(['segment', 'attribute']).default('segment'),
    /** An existing manual segment `id`, or a `name` to create once through the App API. */
    segment: z
      .strictObject({ id: z.number().int().positive().optional(), name: z.string().min(1).optional() })
      .optional(),
    /** Attribute set `true` on joining and `false` on leaving; default: the snake_cased segment/sync name. */
    attribute: z.string().min(1).max(150).optional(),
    /** What the member ids are in Customer.io. */
    idType: z.enum(['id', 'email', 'cio_id']).default('id'),
    /** Identify each joiner before adding it, so Customer.io does not silently ignore unknown people. */
    identifyJoiners: z.boolean().default(false),
    cadence: CadenceField.default({ kind: 'interval', everyMs: 86_400_000 }),
    /** Ids per add/remove request (Customer.io accepts at most 1000). */
    chunkSize: z.number().int().min(1).max(1000).default(1000),
    /**
     * Apply a run whose cohort came back empty although the last one had members. Off by default:
     * an empty export is more often a broken source (wrong column, failed query) than everyone leaving.
     */
    allowEmpty: z.boolean().default(false),
    /**
     * A run that would remove more than this share of the segment's members is held
     * (`held_large_removal`) until `cio-sync run <sync> --confirm` or a config change: a truncated
     * file or a source that answered one page looks like most people leaving. `0` turns it off.
     */
    maxRemovalRatio: z.number().min(0).max(1).default(0.5),
    /** How often a held or stalled cohort sync tries again (sooner on resume, run now or a new config). */
    retryEvery: Duration.default(60_000),
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
  retention: Duration.default(7 * DAY_MS).refine((ms) => ms >= 60_000, 'must be at least 1m'),
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

import { z } from 'zod';

import { Duration, Id, PropertySelection } from './fields.ts';

/** A stream sync of the config file: filter, events, users and delivery. */

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

/**
 * Rows in Amplitude's export format, the form of every line of an Export API file (and of the
 * Webhook destination's default event body), for tests. See docs' source-platforms notes, A.1–A.3:
 *
 *   - all 55 top-level keys, in sorted order (Amplitude writes them so); an absent value is `null`;
 *   - times as `YYYY-MM-DD HH:MM:SS.ffffff`, UTC, milliseconds padded with `000`;
 *   - `event_time = client_event_time + (server_received_time − client_upload_time)` when that
 *     difference is 60 s or more, else `client_event_time`. Whether a negative difference (a client
 *     clock ahead) counts by its size is not documented; it does here;
 *   - `$insert_id` (with the dollar) is the dedup key; `session_id` is -1 without a session;
 *   - `user_properties` is the user's plain property state, not `$set` operations.
 *
 * Times are given as epoch milliseconds and each one defaults from the one before it, the way an
 * SDK's upload goes: client_event_time → client_upload_time (+1 s) → server_received_time (+50 ms)
 * → server_upload_time (+5 ms) → processed_time (+600 ms).
 */
import { randomUUID } from 'node:crypto';

export const EXPORT_COLUMNS = [
  '$insert_id',
  '$insert_key',
  '$schema',
  'adid',
  'amplitude_attribution_ids',
  'amplitude_event_type',
  'amplitude_id',
  'app',
  'city',
  'client_event_time',
  'client_upload_time',
  'country',
  'data',
  'data_type',
  'device_brand',
  'device_carrier',
  'device_family',
  'device_id',
  'device_manufacturer',
  'device_model',
  'device_type',
  'dma',
  'event_id',
  'event_properties',
  'event_time',
  'event_type',
  'global_user_properties',
  'group_properties',
  'groups',
  'idfa',
  'ip_address',
  'is_attribution_event',
  'language',
  'library',
  'location_lat',
  'location_lng',
  'os_name',
  'os_version',
  'partner_id',
  'paying',
  'plan',
  'platform',
  'processed_time',
  'region',
  'sample_rate',
  'server_received_time',
  'server_upload_time',
  'session_id',
  'source_id',
  'start_version',
  'user_creation_time',
  'user_id',
  'user_properties',
  'uuid',
  'version_name',
] as const;

export type ExportColumn = (typeof EXPORT_COLUMNS)[number];

type TimeColumn =
  | 'client_event_time'
  | 'client_upload_time'
  | 'server_received_time'
  | 'server_upload_time'
  | 'processed_time'
  | 'event_time'
  | 'user_creation_time';

/** Any column's value as it should appear, except the times, which are epoch milliseconds. */
export type ExportEventInput = Partial<Record<Exclude<ExportColumn, TimeColumn>, unknown>> &
  Partial<Record<TimeColumn, number | null>>;

/** The project id of Amplitude's own documentation examples. */
export const DEFAULT_APP = 187520;
/** 2026-01-15 12:00:00 UTC. */
export const DEFAULT_CLIENT_EVENT_TIME = Date.UTC(2026, 0, 15, 12);

const EVENT_TIME_ADJUST_MS = 60_000;

let nextEventId = 1;

/** A full export row: every column, in Amplitude's order. */
export function exportEvent(partial: ExportEventInput = {}): Record<ExportColumn, unknown> {
  const values: Partial<Record<ExportColumn, unknown>> = { ...defaults(partial), ...withoutTimes(partial) };
  for (const [column, ms] of Object.entries(exportTimes(partial))) {
    values[column as TimeColumn] = ms === null ? null : exportTime(ms);
  }
  const row = {} as Record<ExportColumn, unknown>;
  for (const column of EXPORT_COLUMNS) row[column] = values[column] ?? null;
  return row;
}

/** One line of an export file (without its newline). */
export function exportLine(partial: ExportEventInput = {}): string {
  return JSON.stringify(exportEvent(partial));
}

/**
 * `YYYY-MM-DD HH:MM:SS.ffffff` in UTC. A fractional `ms` gives real microseconds (processed_time has
 * them); `digits = 3` gives the Webhook destination's form, `2022-02-28 20:07:01.795`.
 */
export function exportTime(ms: number, digits: 3 | 6 = 6): string {
  const whole = Math.floor(ms);
  const iso = new Date(whole).toISOString();
  const base = `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
  if (digits === 3) return base;
  const micros = Math.min(999, Math.round((ms - whole) * 1000));
  return `${base}${String(micros).padStart(3, '0')}`;
}

/** The time columns in epoch milliseconds, defaults and `event_time` filled in. */
export function exportTimes(partial: ExportEventInput): Record<TimeColumn, number | null> {
  const clientEvent = partial.client_event_time ?? DEFAULT_CLIENT_EVENT_TIME;
  const clientUpload = partial.client_upload_time ?? clientEvent + 1000;
  const serverReceived = partial.server_received_time ?? clientUpload + 50;
  const serverUpload = partial.server_upload_time ?? serverReceived + 5;
  const skew = serverReceived - clientUpload;
  return {
    client_event_time: clientEvent,
    client_upload_time: clientUpload,
    server_received_time: serverReceived,
    server_upload_time: serverUpload,
    processed_time: partial.processed_time ?? serverUpload + 600,
    event_time:
      partial.event_time ?? (Math.abs(skew) >= EVENT_TIME_ADJUST_MS ? clientEvent + skew : clientEvent),
    user_creation_time: partial.user_creation_time ?? null,
  };
}

/** Reads a `YYYY-MM-DD HH:MM:SS.ffffff` time back into epoch milliseconds (microseconds dropped). */
export function parseExportTime(text: string): number {
  const match = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?$/.exec(text);
  if (match === null) throw new Error(`"${text}" is not an export time (YYYY-MM-DD HH:MM:SS.ffffff)`);
  const millis = (match[3] ?? '').padEnd(3, '0').slice(0, 3);
  return Date.parse(`${match[1]}T${match[2]}.${millis}Z`);
}

function defaults(partial: ExportEventInput): Partial<Record<ExportColumn, unknown>> {
  const userProperties = partial.user_properties ?? {};
  const userId = partial.user_id ?? null;
  // An event needs a user id or a device id; without either, a device of its own.
  const deviceId = partial.device_id ?? (userId === null ? randomUUID() : null);
  const updated = typeof userProperties === 'object' && Object.keys(userProperties as object).length > 0;
  return {
    $insert_id: randomUUID(),
    amplitude_id: amplitudeIdOf(String(userId ?? deviceId)),
    app: DEFAULT_APP,
    data: {
      path: '/2/httpapi',
      ...(updated && { user_properties_updated: true }),
      group_first_event: {},
      group_ids: {},
    },
    data_type: 'event',
    device_id: deviceId,
    event_id: nextEventId++,
    event_properties: {},
    event_type: 'Test Event',
    group_properties: {},
    groups: {},
    library: 'http/2.0',
    plan: {},
    session_id: -1,
    user_id: userId,
    user_properties: userProperties,
    uuid: randomUUID(),
  };
}

function withoutTimes(partial: ExportEventInput): Partial<Record<ExportColumn, unknown>> {
  const rest: Partial<Record<ExportColumn, unknown>> = {};
  for (const [key, value] of Object.entries(partial)) {
    if (value !== undefined && !TIME_COLUMNS.has(key)) rest[key as ExportColumn] = value;
  }
  return rest;
}

const TIME_COLUMNS: ReadonlySet<string> = new Set<TimeColumn>([
  'client_event_time',
  'client_upload_time',
  'server_received_time',
  'server_upload_time',
  'processed_time',
  'event_time',
  'user_creation_time',
]);

/** A stable 13-digit id per user, like Amplitude's (1200000023757 in its docs). */
function amplitudeIdOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return 1_200_000_000_000 + hash;
}

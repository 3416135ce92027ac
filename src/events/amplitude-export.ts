import { isPlainObject, setOwn } from '../json-values.ts';
import type { CanonicalRecord, RecordKind } from './record.ts';

/**
 * Amplitude's export event format → CanonicalRecord. Pure: no I/O, no clock.
 *
 * The format is what Amplitude's Export API files hold (one row per line) and the default body of
 * its Webhook streaming destination: one flat object of ~55 columns, absent values as `null`, times
 * as `YYYY-MM-DD HH:MM:SS.ffffff` in UTC. Its "Send Users" option also posts Identify API objects
 * (`user_id`, `device_id`, `user_properties`, device fields, no `event_type`), so both are read here.
 * docs/source-formats.md lists each fact relied on and its source.
 *
 * The record is the one the HTTP V2 route makes for the same event, so syncs treat both alike and
 * the Customer.io event id (source + `insert_id`, timed by the client's own event time) is the same
 * whichever way the event came: `$insert_id` is the insert id, `client_event_time` the client time.
 */

/** Columns that become the record's own fields, or are Amplitude's bookkeeping with no meaning downstream. */
const MAPPED_COLUMNS = new Set([
  'event_type',
  'user_id',
  'device_id',
  '$insert_id',
  'insert_id',
  'event_properties',
  'user_properties',
  'group_properties',
  'groups',
  'event_time',
  'client_event_time',
  'client_upload_time',
  'server_received_time',
  'server_upload_time',
  'processed_time',
  'time',
  'data',
  'data_type',
  '$insert_key',
  '$schema',
]);

/** Export column → the name the HTTP V2 API (and so the SDK routes' records) gives the same field. */
const RENAMED_COLUMNS: ReadonlyMap<string, string> = new Map([
  ['device_carrier', 'carrier'],
  ['ip_address', 'ip'],
  ['version_name', 'app_version'],
]);

const EXPORT_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * An export-format time as epoch ms: `2025-07-01 16:34:54.837000` (export files), `…54.837` (the
 * webhook's documented form), with a `T` (the S3 docs' form) or a zone; an integer is taken as epoch
 * ms. Fractions past milliseconds are cut, as Amplitude's own times are milliseconds padded with 000.
 */
export function parseExportTime(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  // A row's times are read twice (checked, then mapped) and are often equal: the last few are kept.
  const known = recentTimes.get(value);
  if (known !== undefined) return known;
  const ms = fixedFormTime(value) ?? anyFormTime(value);
  if (ms !== undefined) remember(value, ms);
  return ms;
}

const recentTimes = new Map<string, number>();

function remember(value: string, ms: number): void {
  if (recentTimes.size >= 8) recentTimes.delete(recentTimes.keys().next().value!);
  recentTimes.set(value, ms);
}

/** The ASCII digit at `at`, or NaN. */
function digit(text: string, at: number): number {
  const d = text.charCodeAt(at) - 48;
  return d >= 0 && d <= 9 ? d : NaN;
}

const digits2 = (text: string, at: number) => digit(text, at) * 10 + digit(text, at + 1);

function isDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
  return day <= days;
}

/**
 * The form Amplitude writes every time in (`2025-07-01 16:34:54.837000`, or with 3 fractional
 * digits), read without a regular expression: a backfill reads millions. Undefined for other forms.
 */
function fixedFormTime(text: string): number | undefined {
  const { length } = text;
  if ((length !== 26 && length !== 23) || text[10] !== ' ' || text[19] !== '.') return undefined;
  if (text[4] !== '-' || text[7] !== '-' || text[13] !== ':' || text[16] !== ':') return undefined;
  const [year, month, day] = [digits2(text, 0) * 100 + digits2(text, 2), digits2(text, 5), digits2(text, 8)];
  const [hour, minute, second] = [digits2(text, 11), digits2(text, 14), digits2(text, 17)];
  const millis = digits2(text, 20) * 10 + digit(text, 22);
  const micros = length === 26 ? digits2(text, 23) * 10 + digit(text, 25) : 0;
  if ([year, month, day, hour, minute, second, millis, micros].some(Number.isNaN)) return undefined;
  if (!isDate(year, month, day) || hour > 23 || minute > 59 || second > 59) return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second, millis);
}

function anyFormTime(value: string): number | undefined {
  const match = EXPORT_TIME.exec(value.trim());
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction = '', zone] = match;
  const ms = Number(fraction.padEnd(3, '0').slice(0, 3));
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  // Date.UTC rolls 2025-13-01 over into 2026: a time that does not read back the same is not one.
  const back = new Date(utc);
  if (Number.isNaN(utc) || back.getUTCMonth() + 1 !== Number(mo) || back.getUTCDate() !== Number(d)) {
    return undefined;
  }
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  return utc - zoneOffsetMs(zone);
}

function zoneOffsetMs(zone: string | undefined): number {
  if (zone === undefined || zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
}

/** Whether an object is an Identify API object ("Send Users") rather than an event row. */
export function isIdentification(item: Record<string, unknown>): boolean {
  return item.event_type === undefined || item.event_type === null;
}

export interface ExportProblem {
  field: string;
  message: string;
}

function idOf(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function objectOr(value: unknown): Record<string, unknown> | undefined {
  return isPlainObject(value) ? value : undefined;
}

/** What a row needs before it can become a record; undefined when it has it. */
export function exportRowProblem(item: Record<string, unknown>): ExportProblem | undefined {
  if (!isIdentification(item) && (typeof item.event_type !== 'string' || item.event_type === '')) {
    return { field: 'event_type', message: 'event_type must be a non-empty string' };
  }
  if (idOf(item.user_id) === undefined && idOf(item.device_id) === undefined) {
    return { field: 'user_id', message: 'user_id or device_id is required' };
  }
  for (const field of ['event_properties', 'user_properties', 'group_properties', 'groups']) {
    const value = item[field];
    if (value !== undefined && value !== null && !isPlainObject(value)) {
      return { field, message: `${field} must be an object` };
    }
  }
  for (const field of ['event_time', 'client_event_time']) {
    const value = item[field];
    if (value !== undefined && value !== null && parseExportTime(value) === undefined) {
      return { field, message: `${field} is not a time Amplitude writes (YYYY-MM-DD HH:MM:SS.ffffff)` };
    }
  }
  return undefined;
}

function kindOf(eventType: string): RecordKind {
  if (eventType === '$identify') return 'identify';
  if (eventType === '$groupidentify') return 'group_identify';
  return 'track';
}

/** Everything else the row says (device, location, library, ids), under the HTTP V2 names; nulls dropped. */
function contextOf(item: Record<string, unknown>): Record<string, unknown> {
  const context: Record<string, unknown> = {};
  for (const key in item) {
    const value = item[key];
    if (value === undefined || value === null || MAPPED_COLUMNS.has(key) || isEmptyObject(value)) continue;
    const name = RENAMED_COLUMNS.get(key) ?? key;
    // A `__proto__` column (JSON.parse makes it an own key) must stay data, not a prototype.
    if (name === '__proto__') setOwn(context, name, value);
    else context[name] = value;
  }
  return context;
}

function isEmptyObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const _ in value) return false;
  return true;
}

function nonEmpty(value: unknown): Record<string, unknown> | undefined {
  const object = objectOr(value);
  return object && Object.keys(object).length > 0 ? object : undefined;
}

/**
 * The dedupe key: `$insert_id` (the client's, also the HTTP V2 route's `insert_id`), else Amplitude's
 * own event `uuid`, so a webhook retry or a second backfill of an event sent without one is still
 * recognised.
 */
function insertIdOf(item: Record<string, unknown>): string | undefined {
  const own = idOf(item.$insert_id) ?? idOf(item.insert_id);
  if (own !== undefined) return own;
  const uuid = idOf(item.uuid);
  return uuid === undefined ? undefined : `amplitude-uuid:${uuid}`;
}

export interface ExportRecordOptions {
  /** When the row reached us: the time of an Identify API object, which carries none. */
  receivedAt: number;
  /** Set for rows read from history (a backfill): see CanonicalRecord.historical. */
  historical?: boolean;
}

/**
 * One export-format row (or "Send Users" Identify API object) → the canonical record. Call
 * exportRowProblem first. `event_time` (Amplitude's corrected time) is the event time;
 * `client_event_time` (the `time` the SDK sent) the client time; `user_properties` are the user's
 * properties after the event, which user forwarding treats as a `$set` of each and diffs against
 * what Customer.io already has, so only the selected properties that changed are sent.
 */
export function fromAmplitudeExport(
  item: Record<string, unknown>,
  options: ExportRecordOptions,
): CanonicalRecord {
  const eventType = isIdentification(item) ? '$identify' : String(item.event_type);
  const clientTime = parseExportTime(item.client_event_time);
  const time = parseExportTime(item.event_time) ?? clientTime ?? options.receivedAt;
  const record: CanonicalRecord = {
    kind: kindOf(eventType),
    origin: 'amplitude',
    event_type: eventType,
    time,
    event_properties: objectOr(item.event_properties) ?? {},
    user_properties: objectOr(item.user_properties) ?? {},
    context: contextOf(item),
  };
  const optional: Partial<CanonicalRecord> = {
    insert_id: insertIdOf(item),
    client_time: clientTime,
    user_id: idOf(item.user_id),
    anonymous_id: idOf(item.device_id),
    groups: nonEmpty(item.groups),
    group_properties: nonEmpty(item.group_properties),
    historical: options.historical === true ? true : undefined,
  };
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) (record as unknown as Record<string, unknown>)[key] = value;
  }
  return record;
}

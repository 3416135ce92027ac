/**
 * The hours Amplitude's Export API (`GET /api/2/export?start=…&end=…`) works in, and their arithmetic.
 *
 * An hour is held as an `ExportHour`: a whole number of hours since 1970-01-01T00:00Z. A plain integer
 * makes ranges, counts and halving exact integer arithmetic and cannot hold a time that is not an
 * hour's start; `exportHourToMs` gives the epoch milliseconds when a Date is needed.
 *
 * The API's form is `YYYYMMDDTHH` in UTC, and both ends of a range are included (`T00`..`T23` is one
 * day). The range is by server upload time, and at most 365 days long.
 */

/** Whole hours since 1970-01-01T00:00Z. */
export type ExportHour = number;

/** An inclusive range of export hours, as the API's `start` and `end`. */
export interface HourRange {
  from: ExportHour;
  to: ExportHour;
}

export interface MemberHour {
  hour: ExportHour;
  /** The `#n` suffix: several files may hold one hour. */
  partition: number;
}

/** A user's or a file's hour text that cannot be an export hour. */
export class ExportHourError extends Error {
  override name = 'ExportHourError';
}

const HOUR_MS = 3_600_000;

/** The longest range one export request may ask for: 365 days. */
export const MAX_RANGE_HOURS = 365 * 24;

const API_FORM = /^(\d{4})(\d{2})(\d{2})T(\d{2})$/;
/** `2026-11-01`, `2026-11-01T05`, `2026-11-01T05:00`, `2026-11-01 05:00:00.000Z`, `…+00:00`. */
const ISO_FORM =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;
const MEMBER_NAME = /^(?:.*\/)?(\d+)_(\d{4})-(\d{2})-(\d{2})_(\d{1,2})#(\d+)\.json\.gz$/;

/** Parses the API's own `YYYYMMDDTHH` form (UTC) strictly. */
export function parseExportHour(text: string): ExportHour {
  const match = API_FORM.exec(text);
  if (match === null) throw new ExportHourError(`"${text}" is not an export hour: expected YYYYMMDDTHH`);
  const [, year, month, day, hour] = match as unknown as [string, string, string, string, string];
  return hourOf(text, Number(year), Number(month), Number(day), Number(hour));
}

/** The API's `YYYYMMDDTHH` form of an hour. */
export function formatExportHour(hour: ExportHour): string {
  const iso = new Date(exportHourToMs(hour)).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}`;
}

/** A readable form for messages and logs: `2026-11-01T05:00Z`. */
export function describeExportHour(hour: ExportHour): string {
  return `${new Date(exportHourToMs(hour)).toISOString().slice(0, 13)}:00Z`;
}

/**
 * Parses an hour as a CLI user types it: the API's `20261101T05`, or ISO-like `2026-11-01` (hour 00),
 * `2026-11-01T05`, `2026-11-01T05:00Z`, `2026-11-01 05:00:00+00:00`. The time is UTC; an offset other
 * than zero is refused rather than converted, so nobody backfills the wrong hours by mistake, and
 * minutes or seconds other than zero are refused because the API cannot start mid-hour.
 */
export function parseHourInput(input: string): ExportHour {
  const text = input.trim();
  if (API_FORM.test(text)) return parseExportHour(text);
  const match = ISO_FORM.exec(text);
  if (match === null) {
    throw new ExportHourError(
      `"${input}" is not an hour: use YYYY-MM-DD, YYYY-MM-DDTHH, YYYY-MM-DDTHH:00Z or YYYYMMDDTHH (UTC)`,
    );
  }
  const [, year, month, day, hour, minute, second, fraction, zone] = match;
  if (zone !== undefined && !/^(Z|[+-]00:?00)$/i.test(zone)) {
    throw new ExportHourError(`"${input}": give the hour in UTC (Z); other offsets are not converted`);
  }
  if (!isZero(minute) || !isZero(second) || (fraction !== undefined && !/^0+$/.test(fraction))) {
    throw new ExportHourError(`"${input}" is not the start of an hour: export ranges are whole UTC hours`);
  }
  return hourOf(input, Number(year), Number(month), Number(day), Number(hour ?? '0'));
}

export function exportHourToMs(hour: ExportHour): number {
  return hour * HOUR_MS;
}

/** The hour an instant falls in. */
export function exportHourOfMs(ms: number): ExportHour {
  return Math.floor(ms / HOUR_MS);
}

export function addHours(hour: ExportHour, hours: number): ExportHour {
  return hour + hours;
}

/** Hours in the inclusive range `from`..`to`; 0 when `to` is before `from`. */
export function hoursBetween(from: ExportHour, to: ExportHour): number {
  return Math.max(0, to - from + 1);
}

/** Throws unless `from`..`to` is a range one export request may ask for. */
export function checkExportRange(from: ExportHour, to: ExportHour): void {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) {
    throw new ExportHourError(`export range ${from}..${to}: hours must be whole numbers`);
  }
  if (to < from) {
    throw new ExportHourError(
      `export range ${describeExportHour(from)}..${describeExportHour(to)}: the end is before the start`,
    );
  }
  const hours = hoursBetween(from, to);
  if (hours > MAX_RANGE_HOURS) {
    throw new ExportHourError(
      `export range ${describeExportHour(from)}..${describeExportHour(to)} is ${hours} hours: one request covers at most 365 days (${MAX_RANGE_HOURS} hours)`,
    );
  }
}

/**
 * Two halves of an inclusive range, the first one the larger when the count is odd, for an export the
 * API refused as too large. `undefined` for a single hour, which cannot be split further.
 */
export function splitRange(from: ExportHour, to: ExportHour): [HourRange, HourRange] | undefined {
  const hours = hoursBetween(from, to);
  if (hours < 2) return undefined;
  const lastOfFirst = from + Math.ceil(hours / 2) - 1;
  return [
    { from, to: lastOfFirst },
    { from: lastOfFirst + 1, to },
  ];
}

/**
 * The hour and partition of an export zip member, `<projectId>/<projectId>_<YYYY-MM-DD>_<H>#<n>.json.gz`
 * (H not zero-padded). `undefined` when the name has another form.
 */
export function exportHourOfMember(name: string): MemberHour | undefined {
  const match = MEMBER_NAME.exec(name);
  if (match === null) return undefined;
  const [, , year, month, day, hour, partition] = match as unknown as string[];
  try {
    return {
      hour: hourOf(name, Number(year), Number(month), Number(day), Number(hour)),
      partition: Number(partition),
    };
  } catch {
    return undefined;
  }
}

function hourOf(text: string, year: number, month: number, day: number, hour: number): ExportHour {
  if (hour > 23) throw new ExportHourError(`"${text}": hour ${hour} is not between 00 and 23`);
  const ms = Date.UTC(year, month - 1, day, hour);
  const date = new Date(ms);
  // Date.UTC rolls over (Feb 30 → Mar 2); a date that does not survive the round trip does not exist.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    throw new ExportHourError(`"${text}": ${year}-${pad(month)}-${pad(day)} is not a date`);
  }
  return exportHourOfMs(ms);
}

function isZero(digits: string | undefined): boolean {
  return digits === undefined || Number(digits) === 0;
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

/** Times as Customer.io takes them: Unix seconds, from epoch ms or ISO strings. */
/**
 * Customer.io's Track API takes Unix SECONDS everywhere (`timestamp`, `created_at`, `last_used`): a
 * millisecond value is accepted but lands 50,000 years out, and an ISO string is silently replaced
 * with "now". Every time we send goes through here.
 */

export function unixSeconds(epochMs: number): number {
  return Math.floor(epochMs / 1000);
}

/** Below this a number is seconds (it would be ms before 1973-03-03); above, ms (seconds after 5138). */
const MS_THRESHOLD = 1e11;

// ISO-8601 date, optionally with a time and an offset. Deliberately strict: looser parsing (Date.parse
// accepts "1/2/3") would turn phone numbers and version strings into dates.
const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * A date given as Unix seconds, epoch milliseconds (either as a number or a digit string) or an
 * ISO-8601 string, as Unix seconds; `undefined` when it is none of those. An ISO string without an
 * offset is read as UTC: the machine's time zone has nothing to do with the data.
 */
export function toUnixSeconds(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? fromEpochNumber(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^-?\d+(\.\d+)?$/.test(text)) return fromEpochNumber(Number(text));
  const match = ISO_DATE.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour = 0, minute = 0, second = 0] = match
    .slice(1, 7)
    .map((part) => Number(part ?? 0));
  const millis = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
  const utc = Date.UTC(year!, month! - 1, day!, hour, minute, second, millis);
  // Date.UTC rolls 2024-02-30 over to March 1st; a date that does not exist is not a date.
  const check = new Date(utc);
  if (
    check.getUTCMonth() !== month! - 1 ||
    check.getUTCDate() !== day! ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return undefined;
  }
  return unixSeconds(utc - offsetMinutes(match[8]) * 60_000);
}

function fromEpochNumber(n: number): number {
  return Math.abs(n) >= MS_THRESHOLD ? Math.floor(n / 1000) : Math.floor(n);
}

function offsetMinutes(offset: string | undefined): number {
  if (offset === undefined || offset.toUpperCase() === 'Z') return 0;
  const digits = offset.replace(':', '');
  const sign = digits.startsWith('-') ? -1 : 1;
  return sign * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
}

import { parseDuration } from './duration.ts';

/** When a cohort sync runs: once, every interval (hourly and daily are intervals), or on a cron line. */
export type Cadence =
  { kind: 'once' } | { kind: 'interval'; everyMs: number } | { kind: 'cron'; expression: string };

const CRON_FIELD = /^[\d*/,\-A-Za-z?LW#]+$/;

/**
 * Parses `once`, `hourly`, `daily`, a duration (`15m`, `6h`) or a 5-field cron line
 * (`0 6 * * 1-5`). Returns an error message instead when it is none of those.
 */
export function parseCadence(value: string): Cadence | string {
  const text = value.trim();
  if (text === 'once') return { kind: 'once' };
  if (text === 'hourly') return { kind: 'interval', everyMs: 3_600_000 };
  if (text === 'daily') return { kind: 'interval', everyMs: 86_400_000 };
  const ms = parseDuration(text);
  if (ms !== undefined) {
    return ms >= 1000 ? { kind: 'interval', everyMs: ms } : 'an interval must be at least 1s';
  }
  const fields = text.split(/\s+/);
  if (fields.length === 5 && fields.every((f) => CRON_FIELD.test(f)))
    return { kind: 'cron', expression: text };
  return 'expected once, hourly, daily, an interval like 15m, or a 5-field cron line like "0 6 * * *"';
}

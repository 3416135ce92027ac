import { z } from 'zod';

import { parseDuration } from './config/duration.ts';

/** How a setting is declared and parsed: its spec, and the value parsers the settings share. */

/** A variable that is unset and one set to the empty string both mean "use the default". */
export type Raw = string | undefined;

export interface SettingSpec<T> {
  variable: string;
  /** What `unset` gives, as docs/environment.md shows it. */
  shown: string;
  readBy: string;
  meaning: string;
  parse: (raw: Raw) => T;
}

export class SettingValueError extends Error {}

export function setting<T>(spec: {
  variable: string;
  shown: string;
  readBy: string;
  meaning: string;
  schema: z.ZodType<T>;
  fallback: T;
  /** Parse `''` rather than treat it as unset: an empty list is a choice (allow nothing). */
  emptyIsValue?: boolean;
}): SettingSpec<T> {
  return {
    variable: spec.variable,
    shown: spec.shown,
    readBy: spec.readBy,
    meaning: spec.meaning,
    parse(raw) {
      if (raw === undefined || (raw.trim() === '' && !spec.emptyIsValue)) return spec.fallback;
      const result = spec.schema.safeParse(raw.trim());
      if (result.success) return result.data;
      throw new SettingValueError(
        `${spec.variable}=${JSON.stringify(raw)}: ${result.error.issues[0]?.message ?? 'invalid'}`,
      );
    },
  };
}

export const text = z.string();
export const port = z.coerce
  .number({ error: 'expected a port 0-65535' })
  .int({ error: 'expected a port 0-65535' })
  .min(0, { error: 'expected a port 0-65535' })
  .max(65535, { error: 'expected a port 0-65535' });
export const positiveInteger = z.coerce
  .number({ error: 'expected a positive integer' })
  .int({ error: 'expected a positive integer' })
  .min(1, { error: 'expected a positive integer' });
/** `30s`, `500ms`…, or a bare number of milliseconds. */
export const positiveDuration = z.string().transform((value, ctx) => {
  const ms = /^\d+$/.test(value) ? Number(value) : parseDuration(value);
  if (ms === undefined || ms < 1) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration such as 10s or 500ms' });
    return z.NEVER;
  }
  return ms;
});
/** Comma-separated; empty items dropped. */
export const list = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== ''),
);
export const hostList = list.transform((hosts) => hosts.map((host) => host.toLowerCase()));

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];
export const logLevel = z
  .string()
  .transform((value) => value.toLowerCase())
  .pipe(z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }));

export const flag = z.string().transform((value) => value !== '0' && value.toLowerCase() !== 'false');

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Parses `250ms`, `30s`, `15m`, `2h`, `1d`; a bare number is milliseconds. Undefined when invalid. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
}

/**
 * `2026-11-30T12:00:00Z`, or a duration ago (`2h`) → epoch ms; undefined when it is neither. A
 * duration must carry its unit here: a bare number is not read as milliseconds ago.
 */
export function timeOrAgo(value: string, now: number): number | undefined {
  const ago = /[a-z]$/.test(value.trim()) ? parseDuration(value) : undefined;
  if (ago !== undefined) return now - ago;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}

/** Test fixtures for the mapping tests: a canonical record and a stream sync with defaults. */
import { StreamSync } from '../../src/config/schema.ts';
import type { CanonicalRecord } from '../../src/events/record.ts';

/** Test fixtures for the mapping tests (kept out of *.test.ts so several files can share them). */

/** 2023-11-14T22:13:20.123Z: a millisecond part that must disappear in Unix seconds. */
export const T = 1_700_000_000_123;
export const T_SECONDS = 1_700_000_000;

export function record(overrides: Partial<CanonicalRecord> = {}): CanonicalRecord {
  return {
    kind: 'track',
    origin: 'segment',
    time: T,
    // As an SDK sends it: the event's own time, before any clock-skew correction.
    client_time: T,
    event_properties: {},
    user_properties: {},
    context: {},
    ...overrides,
  };
}

/** A stream sync as the config loader would produce it: `overrides` go through the schema's defaults. */
export function streamSync(overrides: Record<string, unknown> = {}): StreamSync {
  return StreamSync.parse({
    id: 'web-to-cio',
    type: 'stream',
    source: 'web',
    destination: 'cio',
    ...overrides,
  });
}

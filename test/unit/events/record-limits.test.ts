import { describe, expect, it } from 'vitest';

import {
  checkRecordLimits,
  checkValueLimits,
  MAX_DEPTH,
  MAX_PROPERTIES,
  MAX_RECORD_BYTES,
  MAX_STRING_LENGTH,
} from '../../../src/events/record-limits.ts';
import type { CanonicalRecord } from '../../../src/events/record.ts';

function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = { n: value };
  return value;
}

const record = (extra: Partial<CanonicalRecord> = {}): CanonicalRecord => ({
  kind: 'track',
  origin: 'segment',
  event_type: 'Bought',
  user_id: 'user-1',
  time: 1,
  event_properties: {},
  user_properties: {},
  context: {},
  ...extra,
});

describe('checkRecordLimits', () => {
  it('accepts a record at every limit', () => {
    expect(
      checkRecordLimits(
        record({
          event_properties: {
            deep: nested(MAX_DEPTH - 1),
            s: 'x'.repeat(MAX_STRING_LENGTH),
            many: Object.fromEntries(Array.from({ length: MAX_PROPERTIES - 3 }, (_, i) => [`k${i}`, i])),
          },
        }),
      ),
    ).toBeUndefined();
  });

  it('names the limit, the field and the path of the first problem', () => {
    expect(checkRecordLimits(record({ event_properties: { a: nested(MAX_DEPTH) } }))).toEqual({
      limit: 'depth',
      field: 'event_properties',
      path: `event_properties.a${'.n'.repeat(MAX_DEPTH - 1)}`,
      detail: `nested deeper than ${MAX_DEPTH} levels`,
      message: `event_properties.a${'.n'.repeat(MAX_DEPTH - 1)}: nested deeper than ${MAX_DEPTH} levels`,
    });
    expect(
      checkRecordLimits(record({ context: { list: Array.from({ length: MAX_PROPERTIES + 1 }, () => 0) } })),
    ).toMatchObject({
      limit: 'property_count',
      field: 'context',
      message: `context.list: more than ${MAX_PROPERTIES} elements`,
    });
    expect(
      checkRecordLimits(record({ user_properties: { ['k'.repeat(MAX_STRING_LENGTH + 1)]: 1 } })),
    ).toMatchObject({
      limit: 'string_length',
      field: 'user_properties',
    });
    const big = record({
      event_properties: Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`p${i}`, 'x'.repeat(2000)])),
    });
    expect(checkRecordLimits(big)).toEqual({
      limit: 'record_size',
      field: '',
      path: '',
      detail: expect.any(String),
      message: expect.stringMatching(
        new RegExp(`^\\d+ bytes as JSON, over the ${MAX_RECORD_BYTES} byte limit$`),
      ),
    });
  });

  it('walks a value nested a million levels deep without recursion', () => {
    const deep = JSON.parse(`${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`) as unknown;
    expect(checkValueLimits({ x: deep })).toMatchObject({ limit: 'depth', field: 'x' });
    expect(checkRecordLimits(deep)).toMatchObject({ limit: 'depth' });
  });

  it('may leave string lengths alone (Amplitude truncates them)', () => {
    expect(checkValueLimits({ s: 'x'.repeat(MAX_STRING_LENGTH + 1) }, { strings: false })).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import {
  APP_API_REQUESTS_PER_SECOND,
  attributeValueBytes,
  BATCH_ENVELOPE_BYTES,
  batchBytes,
  checkAttributes,
  checkBatch,
  checkBatchItem,
  checkEventData,
  checkEventName,
  checkIdentifierValue,
  checkSegmentIds,
  DEFAULT_SEGMENT_MEMBERSHIP_PAGE,
  jsonBytes,
  MAX_ATTRIBUTE_NAME_BYTES,
  MAX_ATTRIBUTE_VALUE_BYTES,
  MAX_ATTRIBUTES,
  MAX_BATCH_BYTES,
  MAX_BATCH_ITEM_BYTES,
  MAX_ENTITY_BYTES,
  MAX_EVENT_DATA_BYTES,
  MAX_EVENT_NAME_BYTES,
  MAX_IDENTIFIER_BYTES,
  MAX_SEGMENT_IDS_PER_CALL,
  MAX_SEGMENT_MEMBERSHIP_PAGE,
} from '../../../src/customerio/limits.ts';

describe('documented limits', () => {
  it('match the Track/App API docs', () => {
    expect(MAX_IDENTIFIER_BYTES).toBe(150);
    expect(MAX_ATTRIBUTE_NAME_BYTES).toBe(150);
    expect(MAX_ATTRIBUTE_VALUE_BYTES).toBe(1000);
    expect(MAX_ATTRIBUTES).toBe(300);
    expect(MAX_EVENT_NAME_BYTES).toBe(100);
    expect(MAX_EVENT_DATA_BYTES).toBe(100_000);
    expect(MAX_BATCH_ITEM_BYTES).toBe(32_000);
    expect(MAX_ENTITY_BYTES).toBe(32_000);
    expect(MAX_BATCH_BYTES).toBe(500_000);
    expect(MAX_SEGMENT_IDS_PER_CALL).toBe(1000);
    expect(APP_API_REQUESTS_PER_SECOND).toBe(10);
    expect(MAX_SEGMENT_MEMBERSHIP_PAGE).toBe(30_000);
    expect(DEFAULT_SEGMENT_MEMBERSHIP_PAGE).toBe(1000);
  });
});

describe('checkIdentifierValue', () => {
  it('accepts ids up to 150 UTF-8 bytes', () => {
    expect(checkIdentifierValue('user-1')).toBeUndefined();
    expect(checkIdentifierValue('a'.repeat(150))).toBeUndefined();
    expect(checkIdentifierValue(42)).toBeUndefined();
  });

  it('counts bytes, not characters', () => {
    // 'é' is 2 bytes: 75 characters = 150 bytes fits, 76 = 152 does not.
    expect(checkIdentifierValue('é'.repeat(75))).toBeUndefined();
    expect(checkIdentifierValue('é'.repeat(76))).toBe('identifier is 152 bytes, limit 150');
  });

  it('rejects over-long, empty and non-string values', () => {
    expect(checkIdentifierValue('a'.repeat(151))).toBe('identifier is 151 bytes, limit 150');
    expect(checkIdentifierValue('')).toBe('identifier is empty');
    expect(checkIdentifierValue('   ')).toBe('identifier is empty');
    expect(checkIdentifierValue(null)).toBe('identifier must be a string, got null');
    expect(checkIdentifierValue({})).toBe('identifier must be a string, got object');
    expect(checkIdentifierValue(Number.NaN)).toMatch(/finite/);
  });
});

describe('checkEventName', () => {
  it('accepts names up to 100 bytes after trimming', () => {
    expect(checkEventName('Order Completed')).toBeUndefined();
    expect(checkEventName('x'.repeat(100))).toBeUndefined();
    expect(checkEventName(`  ${'x'.repeat(100)}  `)).toBeUndefined();
  });

  it('rejects long, blank and non-string names', () => {
    expect(checkEventName('x'.repeat(101))).toBe('event name is 101 bytes, limit 100');
    expect(checkEventName('€'.repeat(34))).toBe('event name is 102 bytes, limit 100');
    expect(checkEventName('  ')).toBe('event name is empty');
    expect(checkEventName(undefined)).toBe('event name must be a string, got undefined');
  });

  it('catches page views named after a long URL', () => {
    const url = `https://example.com/${'segment/'.repeat(12)}`;
    expect(checkEventName(url)).toMatch(/limit 100$/);
  });
});

describe('checkEventData', () => {
  it('measures the serialized object', () => {
    expect(checkEventData(undefined)).toBeUndefined();
    expect(checkEventData({ a: 1 })).toBeUndefined();
    // {"v":"…"} adds 8 bytes around the string.
    expect(checkEventData({ v: 'x'.repeat(100_000 - 8) })).toBeUndefined();
    expect(checkEventData({ v: 'x'.repeat(100_000 - 7) })).toBe('event data is 100001 bytes, limit 100000');
  });

  it('rejects non-objects', () => {
    expect(checkEventData([1])).toBe('event data must be an object, got array');
    expect(checkEventData('x')).toBe('event data must be an object, got string');
  });
});

describe('checkAttributes', () => {
  it('accepts up to 300 attributes', () => {
    const attrs = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`a${i}`, i]));
    expect(checkAttributes(attrs)).toBeUndefined();
    expect(checkAttributes({ ...attrs, one_more: true })).toBe('301 attributes, limit 300');
  });

  it('limits attribute names to 150 bytes', () => {
    expect(checkAttributes({ ['n'.repeat(150)]: 1 })).toBeUndefined();
    expect(checkAttributes({ ['n'.repeat(151)]: 1 })).toMatch(
      /^attribute name 'n{40}…' is 151 bytes, limit 150$/,
    );
  });

  it('limits string values to 1000 bytes', () => {
    expect(checkAttributes({ bio: 'b'.repeat(1000) })).toBeUndefined();
    expect(checkAttributes({ bio: 'b'.repeat(1001) })).toBe(
      "value for attribute 'bio' is 1001 bytes, limit 1000",
    );
    expect(checkAttributes({ bio: 'ü'.repeat(501) })).toBe(
      "value for attribute 'bio' is 1002 bytes, limit 1000",
    );
  });

  it('measures non-string values as JSON', () => {
    expect(attributeValueBytes([1, 2])).toBe(5);
    expect(attributeValueBytes({ a: 'b' })).toBe(9);
    expect(attributeValueBytes(true)).toBe(4);
    const list = Array.from({ length: 300 }, () => 'abc'); // 300 * 6 - 1 + 2 = 1801 bytes
    expect(checkAttributes({ tags: list })).toBe("value for attribute 'tags' is 1801 bytes, limit 1000");
  });

  it('rejects non-objects', () => {
    expect(checkAttributes(undefined)).toBeUndefined();
    expect(checkAttributes([])).toBe('attributes must be an object, got array');
  });
});

describe('checkBatchItem / checkBatch', () => {
  it('measures an operation serialized, in bytes', () => {
    const op = {
      type: 'person',
      identifiers: { id: 'u1' },
      action: 'event',
      name: 'e',
      attributes: { pad: '' },
    };
    const base = jsonBytes(op);
    const fits = { ...op, attributes: { pad: 'x'.repeat(MAX_BATCH_ITEM_BYTES - base) } };
    const over = { ...op, attributes: { pad: 'x'.repeat(MAX_BATCH_ITEM_BYTES - base + 1) } };
    expect(jsonBytes(fits)).toBe(32_000);
    expect(checkBatchItem(fits)).toBeUndefined();
    expect(checkBatchItem(over)).toBe('operation is 32001 bytes serialized, limit 32000');
  });

  it('measures a whole batch including its envelope', () => {
    expect(BATCH_ENVELOPE_BYTES).toBe(12);
    const items = [{ a: 1 }, { b: 'xy' }];
    expect(batchBytes(items.map(jsonBytes))).toBe(jsonBytes({ batch: items }));
    expect(batchBytes([])).toBe(jsonBytes({ batch: [] }));
    expect(checkBatch(items)).toBeUndefined();
    expect(checkBatch([])).toBe('batch is empty');
    const big = Array.from({ length: 20 }, () => ({ pad: 'x'.repeat(25_000) }));
    expect(checkBatch(big)).toMatch(/^batch is \d+ bytes serialized, limit 500000$/);
  });
});

describe('checkSegmentIds', () => {
  it('accepts 1..1000 valid ids', () => {
    expect(checkSegmentIds(['a'])).toBeUndefined();
    expect(checkSegmentIds(Array.from({ length: 1000 }, (_, i) => `u${i}`))).toBeUndefined();
  });

  it('rejects empty, oversized and invalid lists', () => {
    expect(checkSegmentIds([])).toBe('segment membership call needs at least one id');
    expect(checkSegmentIds(Array.from({ length: 1001 }, (_, i) => `u${i}`))).toBe(
      '1001 ids in one segment membership call, limit 1000',
    );
    expect(checkSegmentIds(['ok', ''])).toBe('ids[1]: identifier is empty');
  });
});

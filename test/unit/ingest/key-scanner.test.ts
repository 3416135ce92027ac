import { describe, expect, it } from 'vitest';

import { TopLevelKeyScanner, type ScanResult } from '../../../src/ingest/key-scanner.ts';

/** Feeds `text` in chunks of `size` bytes (1 = every byte on its own: boundaries everywhere). */
function scan(text: string, field = 'api_key', size = 1): ScanResult {
  const scanner = new TopLevelKeyScanner(field);
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i += size) {
    const result = scanner.push(bytes.subarray(i, i + size));
    if (result.state !== 'pending') return result;
  }
  return scanner.result;
}

describe('TopLevelKeyScanner', () => {
  it('finds the top-level key wherever the chunks split, escapes and non-ASCII included', () => {
    for (const size of [1, 2, 7, 4096]) {
      expect(scan('{"api_key":"k-1","events":[]}', 'api_key', size)).toEqual({
        state: 'found',
        value: 'k-1',
      });
      expect(
        scan(' \n{ "events" : [{"api_key":"nested"}], "api_key" : "k\\"é\\u0041" }', 'api_key', size),
      ).toEqual({
        state: 'found',
        value: 'k"éA',
      });
      expect(scan('\uFEFF{"writeKey":"w"}', 'writeKey', size)).toEqual({ state: 'found', value: 'w' });
    }
  });

  it('answers before the rest of the body exists', () => {
    const scanner = new TopLevelKeyScanner('api_key');
    expect(scanner.push(Buffer.from('{"api_key":"early","events":[{"event_type":'))).toEqual({
      state: 'found',
      value: 'early',
    });
  });

  it('ignores the name as a value or nested key, and reports absent when the object ends without it', () => {
    expect(scan('{"a":"api_key","b":{"api_key":"x"},"c":["api_key"]}')).toEqual({ state: 'absent' });
    expect(scan('{"events":[]} {"api_key":"late"}')).toEqual({ state: 'absent' });
  });

  it('reports absent for a body that is not an object, or a key whose value is not a string', () => {
    for (const text of [
      '[{"api_key":"k"}]',
      '"api_key"',
      '{"api_key":123}',
      '{"api_key":{"v":"k"}}',
      '{"api_key":"\\x"}',
    ]) {
      expect(scan(text)).toEqual({ state: 'absent' });
    }
  });

  it('stays pending on an unfinished body and skips long strings it does not want', () => {
    expect(scan(`{"events":[{"p":"${'a'.repeat(100_000)}`)).toEqual({ state: 'pending' });
    expect(scan(`{"events":[{"p":"${'a'.repeat(100_000)}\\""}],"api_key":"k"}`, 'api_key', 4096)).toEqual({
      state: 'found',
      value: 'k',
    });
  });
});

import { gzipSync } from 'node:zlib';

import { describe, expect, it } from 'vitest';

import type { CohortFormat } from '../../../src/config/cohort-source.ts';
import { CohortSourceError } from '../../../src/cohorts/errors.ts';
import {
  DEFAULT_ID_COLUMNS,
  formatFromContentType,
  formatFromName,
  parseMembers,
} from '../../../src/cohorts/parse.ts';
import { newStats } from '../../../src/cohorts/read.ts';

/** The document as a byte stream cut every `size` bytes (1: every byte its own chunk). */
async function* bytes(doc: string | Buffer, size = 7): AsyncGenerator<Uint8Array> {
  const buffer = typeof doc === 'string' ? Buffer.from(doc, 'utf8') : doc;
  for (let i = 0; i < buffer.length; i += size) yield buffer.subarray(i, i + size);
}

async function read(
  doc: string | Buffer,
  format: CohortFormat,
  { columns = DEFAULT_ID_COLUMNS, chunkSize = 1000, size = 7 } = {},
) {
  const stats = newStats();
  const chunks: string[][] = [];
  for await (const chunk of parseMembers(bytes(doc, size), {
    format,
    columns,
    chunkSize,
    what: 'doc',
    stats,
  })) {
    chunks.push(chunk);
  }
  return { ids: chunks.flat(), chunks, stats };
}

async function failure(doc: string | Buffer, format: CohortFormat, columns = DEFAULT_ID_COLUMNS) {
  const err = await read(doc, format, { columns }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CohortSourceError);
  return err as CohortSourceError;
}

describe('CSV', () => {
  it('reads the id column named by the header: quoted values, blank lines, BOM, CRLF', async () => {
    const doc =
      '\uFEFF"name","id",plan\r\n' +
      '"Smith, Ann","u1",pro\r\n' +
      '\r\n' +
      '"O""Brien","  u2  ",free\r\n' +
      'multi,"u3",\r\n' +
      '\r\n' +
      '"line\nbreak",u4,x\r\n';
    for (const size of [1, 2, 7, 1000]) {
      const { ids, stats } = await read(doc, 'csv', { size });
      expect(ids).toEqual(['u1', 'u2', 'u3', 'u4']);
      expect(stats.skippedEmpty).toBe(0);
      expect(stats.ids).toBe(4);
      expect(stats.bytes).toBe(Buffer.byteLength(doc));
    }
  });

  it('skips empty cells and short rows, counting them; keeps duplicates', async () => {
    const { ids, stats } = await read('id,x\na,1\n,2\n"  ",3\nb\n9\na,4\n', 'csv');
    expect(ids).toEqual(['a', 'b', '9', 'a']);
    expect(stats.skippedEmpty).toBe(2);
  });

  it('short row without the id column counts as empty', async () => {
    const { ids, stats } = await read('x,id\n1,a\n2\n3,b\n', 'csv');
    expect(ids).toEqual(['a', 'b']);
    expect(stats.skippedEmpty).toBe(1);
  });

  it('falls back to user_id, and takes an explicit column; header names match case-insensitively last', async () => {
    expect((await read('amplitude_id,user_id\n1,alice\n2,\n', 'csv')).ids).toEqual(['alice']);
    expect((await read('id,email\n1,a@x.io\n', 'csv', { columns: ['email'] })).ids).toEqual(['a@x.io']);
    expect((await read('ID,User_Id\n1,u\n', 'csv')).ids).toEqual(['1']);
    expect((await read(' id ,x\nk,1\n', 'csv')).ids).toEqual(['k']);
  });

  it('a missing column is a format error naming the header', async () => {
    const err = await failure('email,name\na@x.io,A\n', 'csv');
    expect(err.reason).toBe('format');
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(
      'doc: the CSV header has no column "id" or "user_id" (header: "email", "name"); the first line must name the columns',
    );
  });

  it('an empty document, or one with only a header', async () => {
    expect((await failure('', 'csv')).message).toContain('CSV is empty');
    expect((await failure('\n\n', 'csv')).message).toContain('CSV is empty');
    expect((await read('id\n', 'csv')).ids).toEqual([]);
  });

  it('broken quoting is a format error, also after many plain lines', async () => {
    const err = await failure('id\n"unterminated\n', 'csv');
    expect(err.reason).toBe('format');
    expect(err.message).toMatch(/^doc: invalid CSV: /);
    const late = await failure(`id\n${'plain\n'.repeat(5000)}"unterminated\n`, 'csv');
    expect(late.message).toMatch(/^doc: invalid CSV: /);
  });

  it('reads the same ids whether lines are split here or by csv-parse, however the bytes are cut', async () => {
    // Plain lines first, then a quoted cell, a CR-only document, CRLF cut between its CR and LF,
    // a last line without a newline, a header only found after blank lines.
    const docs: Array<[string, string[]]> = [
      ['x,id\n1,a\n2,b\n3,"c,d"\n4, e \n5,f', ['a', 'b', 'c,d', 'e', 'f']],
      ['id\ra\rb\r"c"\r', ['a', 'b', 'c']],
      ['id\r\na\r\nb\r\n\r\nc', ['a', 'b', 'c']],
      ['\n\nn,user_id\n1,u1\n2\n3,"u3"\n4,u4\n', ['u1', 'u3', 'u4']],
    ];
    for (const [doc, expected] of docs) {
      for (const size of [1, 2, 3, 5, 8, 1000]) {
        expect(
          (await read(doc, 'csv', { size })).ids,
          `${JSON.stringify(doc)} in ${size}-byte chunks`,
        ).toEqual(expected);
      }
    }
  });

  it('a line longer than a JSON element may be is still read (by csv-parse)', async () => {
    const wide = `${'c,'.repeat(600_000)}id\n${'x,'.repeat(600_000)}the-id\n`;
    expect((await read(wide, 'csv', { size: 65536 })).ids).toEqual(['the-id']);
  });

  it('is UTF-8: ids keep their characters across chunk cuts, and bytes that are not UTF-8 are a format error', async () => {
    expect((await read('id\nzoë\n日本\n', 'csv', { size: 1 })).ids).toEqual(['zoë', '日本']);
    const err = await failure(Buffer.from([0x69, 0x64, 0x0a, 0xff, 0xfe, 0x0a]), 'csv');
    expect(err.message).toBe('doc is not valid UTF-8');
  });
});

describe('JSON array', () => {
  it('of strings and numbers; nulls and empty strings skipped', async () => {
    const doc = ' \n[ "a", " b ",3, null, "", "c\\"d", "e\\\\", "[,]{}", 12345678901234 ]\n ';
    for (const size of [1, 3, 1000]) {
      const { ids, stats } = await read(doc, 'json', { size });
      expect(ids).toEqual(['a', 'b', '3', 'c"d', 'e\\', '[,]{}', '12345678901234']);
      expect(stats.skippedEmpty).toBe(2);
    }
  });

  it('of objects: id, else user_id, else the given column; nested values do not confuse the splitter', async () => {
    const doc = JSON.stringify([
      { id: 'u1', tags: ['x', { y: ']' }] },
      { id: 2, note: 'a,b}' },
      { id: null },
      { other: 1 },
      { id: '  u3 ' },
    ]);
    const { ids, stats } = await read(doc, 'json', { size: 5 });
    expect(ids).toEqual(['u1', '2', 'u3']);
    expect(stats.skippedEmpty).toBe(2);
    expect((await read('[{"user_id":"x"},{"user_id":"y","id":"ignored"}]', 'json')).ids).toEqual(['x', 'y']);
    expect((await read('[{"email":"a@x.io"}]', 'json', { columns: ['email'] })).ids).toEqual(['a@x.io']);
  });

  it('multi-byte characters split across chunks survive; a BOM is dropped', async () => {
    const { ids } = await read('\uFEFF["ünïcødé", "😀", {"id":"日本"}]', 'json', { size: 1 });
    expect(ids).toEqual(['ünïcødé', '😀', '日本']);
  });

  it('an empty array yields nothing', async () => {
    expect((await read('[]', 'json')).ids).toEqual([]);
    expect((await read(' [ \n ] ', 'json')).ids).toEqual([]);
  });

  it('objects without any id key are a format error', async () => {
    const err = await failure('[{"email":"a@x.io"},{"name":"b"}]', 'json');
    expect(err.message).toBe('doc: no object has a key "id" or "user_id"; set `column`');
  });

  it.each([
    ['{"ids":[]}', 'expected the document to be an array'],
    ['', 'the document is empty'],
    ['["a", "b"', 'the document ends before the array is closed'],
    ['["a",]', 'a comma before ]'],
    ['["a",,"b"]', 'an empty element'],
    ['["a"] x', 'text after the closing ]'],
    ['["a" "b"]', 'invalid JSON in element 1'],
    ['[true]', 'element 1 is boolean'],
    ['[["a"]]', 'element 1 is an array'],
    ['[{"id":{"x":1}}]', 'element 1: "id" is object'],
  ])('%j is a format error (%s)', async (doc, message) => {
    const err = await failure(doc, 'json');
    expect(err.reason).toBe('format');
    expect(err.message).toContain(message);
  });

  it('invalid UTF-8 is a format error', async () => {
    const err = await failure(Buffer.from([0x5b, 0x22, 0xff, 0x22, 0x5d]), 'json');
    expect(err.message).toBe('doc is not valid UTF-8');
  });
});

describe('NDJSON', () => {
  it('strings, numbers and objects, one per line; blank lines, CRLF and a missing final newline', async () => {
    const doc = '"a"\r\n\n{"id":"b","x":[1,2]}\n  7  \nnull\n{"id":""}\n{"id":"c"}';
    for (const size of [1, 4, 1000]) {
      const { ids, stats } = await read(doc, 'ndjson', { size });
      expect(ids).toEqual(['a', 'b', '7', 'c']);
      expect(stats.skippedEmpty).toBe(2);
    }
  });

  it('a broken line is a format error naming it', async () => {
    const err = await failure('"a"\n{"id": \n"c"\n', 'ndjson');
    expect(err.message).toMatch(/^doc: invalid JSON on line 2: /);
  });

  it('objects with user_id', async () => {
    expect((await read('{"user_id":"x"}\n{"user_id":"y"}\n', 'ndjson')).ids).toEqual(['x', 'y']);
  });
});

describe('chunks', () => {
  it('are at most chunkSize ids, all ids in order', async () => {
    const doc = `id\n${Array.from({ length: 2345 }, (_, i) => `m${i}`).join('\n')}\n`;
    const { chunks, ids } = await read(doc, 'csv', { chunkSize: 1000, size: 4096 });
    expect(chunks.map((c) => c.length)).toEqual([1000, 1000, 345]);
    expect(ids[0]).toBe('m0');
    expect(ids[2344]).toBe('m2344');
    expect(new Set(ids).size).toBe(2345);
  });

  it('a gzip-compressed document is recognised by its bytes', async () => {
    const doc = gzipSync(Buffer.from('["a","b"]'));
    const { ids, stats } = await read(doc, 'json', { size: 1 });
    expect(ids).toEqual(['a', 'b']);
    expect(stats.bytes).toBe(doc.length);
    const csv = await read(gzipSync(Buffer.from('id\nx\n')), 'csv');
    expect(csv.ids).toEqual(['x']);
  });

  it('a corrupt gzip stream is a format error', async () => {
    const doc = gzipSync(Buffer.from('["a","b"]')).subarray(0, 12);
    const err = await failure(doc, 'json');
    expect(err.message).toMatch(/gzip-compressed document could not be decompressed/);
  });

  it('stopping early stops reading the input', async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('id\n');
      for (;;) {
        pulled++;
        yield Buffer.from('x\n'.repeat(100));
      }
    }
    const stats = newStats();
    for await (const chunk of parseMembers(endless(), {
      format: 'csv',
      columns: ['id'],
      chunkSize: 10,
      what: 'doc',
      stats,
    })) {
      expect(chunk).toHaveLength(10);
      break;
    }
    const after = pulled;
    await new Promise((r) => setTimeout(r, 20));
    expect(pulled).toBe(after);
    // Read-ahead is bounded by the streams' buffers, not by the document.
    expect(pulled * 200).toBeLessThan(512 * 1024);
  });
});

describe('format names', () => {
  it('from a file name or URL path', () => {
    expect(formatFromName('a/b/members.CSV')).toBe('csv');
    expect(formatFromName('members.csv.gz')).toBe('csv');
    expect(formatFromName('x.json')).toBe('json');
    expect(formatFromName('x.ndjson')).toBe('ndjson');
    expect(formatFromName('x.jsonl')).toBe('ndjson');
    expect(formatFromName('x.txt')).toBeUndefined();
  });

  it('from a content type', () => {
    expect(formatFromContentType('text/csv; charset=utf-8')).toBe('csv');
    expect(formatFromContentType('application/json')).toBe('json');
    expect(formatFromContentType('application/vnd.api+json')).toBe('json');
    expect(formatFromContentType('application/x-ndjson')).toBe('ndjson');
    expect(formatFromContentType('text/plain')).toBeUndefined();
    expect(formatFromContentType(undefined)).toBeUndefined();
  });
});

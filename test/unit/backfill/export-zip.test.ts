import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yazl from 'yazl';

import { exportLine } from '../../fakes/amplitude-export-format.ts';
import { parseExportHour } from '../../../src/backfill/export-hours.ts';
import { ExportFormatError, readExportZip } from '../../../src/backfill/export-zip.ts';
import type { ExportRecord, ReadExportZipOptions } from '../../../src/backfill/export-zip.ts';

interface TestMember {
  name: string;
  /** Gzipped before it goes in, unless `raw`. */
  text?: string;
  raw?: Buffer;
  deflate?: boolean;
  directory?: boolean;
  /** Built when yazl reaches the member, so a large zip is never held whole. */
  lines?: () => Iterable<string>;
}

let dir: string;
let zipNo = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'export-zip-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeZip(members: TestMember[]): Promise<string> {
  const path = join(dir, `test-${zipNo++}.zip`);
  const zip = new yazl.ZipFile();
  for (const m of members) {
    if (m.directory) zip.addEmptyDirectory(m.name);
    else if (m.lines !== undefined) {
      const lines = m.lines;
      zip.addReadStreamLazy(m.name, { compress: m.deflate ?? false }, (callback) =>
        callback(null, Readable.from(chunked(lines())).pipe(createGzip({ level: 1 }))),
      );
    } else {
      const bytes = m.raw ?? gzipSync(Buffer.from(m.text ?? ''));
      zip.addBuffer(bytes, m.name, { compress: m.deflate ?? false });
    }
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(path));
  return path;
}

function* chunked(lines: Iterable<string>): Generator<string> {
  let buffer = '';
  for (const line of lines) {
    buffer += `${line}\n`;
    if (buffer.length > 64 * 1024) {
      yield buffer;
      buffer = '';
    }
  }
  if (buffer !== '') yield buffer;
}

async function readAll(path: string, options?: ReadExportZipOptions): Promise<ExportRecord[]> {
  const out: ExportRecord[] = [];
  for await (const record of readExportZip(path, options)) out.push(record);
  return out;
}

async function failure(path: string, options?: ReadExportZipOptions): Promise<unknown> {
  try {
    await readAll(path, options);
  } catch (err) {
    return err;
  }
  throw new Error('expected the read to fail');
}

const ndjson = (...records: object[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
const H = (text: string) => parseExportHour(text);

describe('readExportZip: order and members', () => {
  it('reads stored and deflated members alike, in (hour, partition) order whatever the directory order', async () => {
    const path = await writeZip([
      { name: '187520/187520_2026-11-01_10#1.json.gz', text: ndjson({ n: 4 }, { n: 5 }) },
      { name: '187520/', directory: true },
      { name: '187520/187520_2026-11-01_9#0.json.gz', text: ndjson({ n: 1 }), deflate: true },
      { name: '187520/187520_2026-11-01_10#0.json.gz', text: ndjson({ n: 2 }, { n: 3 }), deflate: true },
      { name: '187520/187520_2026-11-01_10_complete', raw: Buffer.from('') },
      { name: '187520/187520_2026-10-31_23#0.json.gz', text: ndjson({ n: 0 }) },
    ]);
    const records = await readAll(path);
    expect(records.map((r) => r.record['n'])).toEqual([0, 1, 2, 3, 4, 5]);
    expect(records.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(records[3]).toEqual({
      member: '187520/187520_2026-11-01_10#0.json.gz',
      hour: H('20261101T10'),
      partition: 0,
      line: 2,
      index: 3,
      bytes: Buffer.byteLength(JSON.stringify({ n: 3 })),
      record: { n: 3 },
    });
    expect(records[0]?.hour).toBe(H('20261031T23'));
    expect(records[5]).toMatchObject({ partition: 1, line: 2 });
  });

  it('orders partitions numerically (#2 before #10)', async () => {
    const path = await writeZip([
      { name: '1/1_2026-11-01_0#10.json.gz', text: ndjson({ p: 10 }) },
      { name: '1/1_2026-11-01_0#2.json.gz', text: ndjson({ p: 2 }) },
    ]);
    expect((await readAll(path)).map((r) => r.partition)).toEqual([2, 10]);
  });

  it('reads an empty zip as no records', async () => {
    expect(await readAll(await writeZip([]))).toEqual([]);
  });

  it('refuses a member with an unknown name rather than guess its hour', async () => {
    const path = await writeZip([
      { name: '1/1_2026-11-01_0#0.json.gz', text: ndjson({ a: 1 }) },
      { name: '1/readme.txt', raw: Buffer.from('hello') },
    ]);
    const err = await failure(path);
    expect(err).toBeInstanceOf(ExportFormatError);
    expect((err as ExportFormatError).message).toMatch(/1 member\(s\) not named .*: 1\/readme\.txt/);
    expect((err as ExportFormatError).member).toBe('1/readme.txt');
  });
});

describe('readExportZip: lines', () => {
  it('takes CRLF, blank lines and a last line without a newline; line numbers count every line', async () => {
    const path = await writeZip([
      { name: '1/1_2026-11-01_0#0.json.gz', text: '{"a":1}\r\n\r\n  \n{"a":2}\r\n{"a":3}' },
    ]);
    const records = await readAll(path);
    expect(records.map((r) => [r.line, r.record])).toEqual([
      [1, { a: 1 }],
      [4, { a: 2 }],
      [5, { a: 3 }],
    ]);
  });

  it('reads a gzip file of several gzip members to the end', async () => {
    const raw = Buffer.concat([gzipSync(ndjson({ a: 1 }, { a: 2 })), gzipSync(ndjson({ a: 3 }))]);
    const path = await writeZip([{ name: '1/1_2026-11-01_0#0.json.gz', raw }]);
    expect((await readAll(path)).map((r) => r.record['a'])).toEqual([1, 2, 3]);
  });

  it('keeps lines that span gunzip chunks whole, and UTF-8 across chunk borders', async () => {
    const long = 'é'.repeat(40_000);
    const path = await writeZip([
      { name: '1/1_2026-11-01_0#0.json.gz', text: ndjson({ s: long }, { s: 'x' }) },
    ]);
    const records = await readAll(path);
    expect(records.map((r) => r.record['s'])).toEqual([long, 'x']);
  });

  it('starts at `from`, with the same indexes and lines as a full read', async () => {
    const path = await writeZip([
      { name: '1/1_2026-11-01_1#0.json.gz', text: ndjson({ n: 2 }, { n: 3 }, { n: 4 }) },
      { name: '1/1_2026-11-01_0#0.json.gz', text: ndjson({ n: 0 }) + '\n' + ndjson({ n: 1 }) },
    ]);
    const all = await readAll(path);
    for (const from of [0, 1, 2, 4, 5, 9]) expect(await readAll(path, { from })).toEqual(all.slice(from));
  });

  it.each([
    ['{"a":1}\n{"a":\n', 2, /line 2: not JSON/],
    ['{"a":1}\n[1,2]\n', 2, /line 2: an array, not a JSON object/],
    ['null\n', 1, /line 1: null, not a JSON object/],
    ['"text"\n', 1, /line 1: string, not a JSON object/],
  ])('names the member and line of a bad line (%j)', async (text, line, message) => {
    const name = '1/1_2026-11-01_0#0.json.gz';
    const err = await failure(await writeZip([{ name, text }]));
    expect(err).toBeInstanceOf(ExportFormatError);
    expect(err).toMatchObject({ member: name, line });
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(name);
  });

  it('yields the records before a bad line, then fails', async () => {
    const path = await writeZip([{ name: '1/1_2026-11-01_0#0.json.gz', text: '{"a":1}\nnope\n' }]);
    const seen: unknown[] = [];
    await expect(async () => {
      for await (const r of readExportZip(path)) seen.push(r.record);
    }).rejects.toThrow(ExportFormatError);
    expect(seen).toEqual([{ a: 1 }]);
  });

  it('refuses a line over the cap instead of holding it', async () => {
    const name = '1/1_2026-11-01_0#0.json.gz';
    const path = await writeZip([{ name, text: ndjson({ a: 1 }, { s: 'x'.repeat(5000) }) }]);
    const err = await failure(path, { maxLineBytes: 1024 });
    expect(err).toBeInstanceOf(ExportFormatError);
    expect(err).toMatchObject({ member: name, line: 2 });
    expect((err as Error).message).toMatch(/longer than 1024 bytes/);
  });
});

describe('readExportZip: broken files', () => {
  it('names the member of a truncated gzip', async () => {
    const whole = gzipSync(ndjson(...Array.from({ length: 200 }, (_, i) => ({ i, pad: 'p'.repeat(50) }))));
    const name = '1/1_2026-11-01_0#0.json.gz';
    const err = await failure(await writeZip([{ name, raw: whole.subarray(0, whole.length - 40) }]));
    expect(err).toBeInstanceOf(ExportFormatError);
    expect((err as ExportFormatError).member).toBe(name);
    expect((err as Error).message).toMatch(/not a readable gzip file: unexpected end of file/);
  });

  it('names the member that is not gzip at all', async () => {
    const name = '1/1_2026-11-01_0#0.json.gz';
    const err = await failure(await writeZip([{ name, raw: Buffer.from('{"plain":"json"}\n') }]));
    expect(err).toBeInstanceOf(ExportFormatError);
    expect((err as Error).message).toMatch(/not a readable gzip file/);
  });

  it('refuses a file that is not a zip, or a zip cut short', async () => {
    const notZip = join(dir, 'not-a-zip.zip');
    await writeFile(notZip, 'Raw data files were not found.');
    const err = await failure(notZip);
    expect(err).toBeInstanceOf(ExportFormatError);
    expect((err as Error).message).toMatch(/not-a-zip\.zip is not a readable zip/);

    const full = await writeZip([{ name: '1/1_2026-11-01_0#0.json.gz', text: ndjson({ a: 1 }) }]);
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(full);
    const cut = join(dir, 'cut.zip');
    await writeFile(cut, bytes.subarray(0, bytes.length - 30));
    expect(await failure(cut)).toBeInstanceOf(ExportFormatError);
  });

  it('passes a missing file on as the file system error it is, once iterated', async () => {
    const records = readExportZip(join(dir, 'missing.zip'));
    const err = await records.next().catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(ExportFormatError);
    expect(err).toMatchObject({ code: 'ENOENT' });
  });
});

describe('readExportZip: memory', () => {
  it('reads 200,000 lines without memory growing with them', async () => {
    const perMember = 50_000;
    const member = (hour: number) => () =>
      (function* () {
        // One real export line per member, varied by a counter: building 200,000 rows field by field
        // would take longer than reading them.
        const parts = exportLine({
          user_id: 'user-#',
          event_type: 'Page Viewed',
          event_properties: { hour, path: '/articles/#', referrer: 'https://example.test/' },
          user_properties: { plan: 'pro', email: 'user-#@example.test' },
        }).split('#');
        for (let i = 0; i < perMember; i++) yield parts.join(String(i));
      })();
    // Out of order in the directory, and half of them deflated.
    const path = await writeZip([
      { name: '1/1_2026-11-01_3#0.json.gz', lines: member(3) },
      { name: '1/1_2026-11-01_1#0.json.gz', lines: member(1), deflate: true },
      { name: '1/1_2026-11-01_2#0.json.gz', lines: member(2) },
      { name: '1/1_2026-11-01_0#0.json.gz', lines: member(0), deflate: true },
    ]);

    const used = () => {
      const m = process.memoryUsage();
      return m.heapUsed + m.external;
    };
    const baseline = used();
    let peak = baseline;
    let count = 0;
    let textBytes = 0;
    const hours: number[] = [];
    for await (const r of readExportZip(path)) {
      if (r.index !== count) throw new Error(`record ${count} has index ${r.index}`);
      if (r.line === 1) hours.push((r.record['event_properties'] as { hour: number }).hour);
      if (count % 2000 === 0) {
        textBytes = count * JSON.stringify(r.record).length;
        peak = Math.max(peak, used());
      }
      count++;
    }
    expect(count).toBe(4 * perMember);
    expect(hours).toEqual([0, 1, 2, 3]);
    // The text read is far more than the bound: memory that grew with it would fail.
    expect(textBytes).toBeGreaterThan(200 * 1024 * 1024);
    expect(peak - baseline).toBeLessThan(96 * 1024 * 1024);
  });
});

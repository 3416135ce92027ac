import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CohortSourceError } from '../../../src/cohorts/errors.ts';
import { fileCohortSource } from '../../../src/cohorts/file.ts';
import type { CohortProgress, CohortSource } from '../../../src/cohorts/source.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cio-sync-cohort-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(source: CohortSource, chunkSize?: number) {
  const chunks: string[][] = [];
  for await (const chunk of source.members(chunkSize === undefined ? {} : { chunkSize })) chunks.push(chunk);
  return chunks;
}

async function rejection(source: CohortSource): Promise<CohortSourceError> {
  const err = await collect(source).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CohortSourceError);
  return err as CohortSourceError;
}

describe('file source', () => {
  it('reads CSV by extension, with the exact ids in chunks', async () => {
    const doc = '\uFEFFemail,user_id\r\n"a@x.io","u1"\r\n\r\n"b@x.io", u2 \r\nc@x.io,\r\n';
    await writeFile(join(dir, 'm.csv'), doc);
    const source = fileCohortSource({ from: 'file', path: 'm.csv' }, { cwd: dir });
    expect(source.description).toBe('file m.csv (csv, column id|user_id)');
    expect(await collect(source, 1)).toEqual([['u1'], ['u2']]);
    expect(source.stats).toEqual({ ids: 2, skippedEmpty: 1, bytes: Buffer.byteLength(doc) });
  });

  it('reads a JSON array of strings and of objects, and NDJSON', async () => {
    await writeFile(join(dir, 'a.json'), '["x", "y", "x"]');
    await writeFile(join(dir, 'b.json'), '[{"id": "p"}, {"id": 7}]');
    await writeFile(join(dir, 'c.jsonl'), '{"member":"m1"}\n{"member":"m2"}\n');
    expect((await collect(fileCohortSource({ from: 'file', path: join(dir, 'a.json') }))).flat()).toEqual([
      'x',
      'y',
      'x',
    ]);
    expect((await collect(fileCohortSource({ from: 'file', path: 'b.json' }, { cwd: dir }))).flat()).toEqual([
      'p',
      '7',
    ]);
    const nd = fileCohortSource({ from: 'file', path: 'c.jsonl', column: 'member' }, { cwd: dir });
    expect((await collect(nd)).flat()).toEqual(['m1', 'm2']);
  });

  it('an explicit format wins over the extension; .gz files are decompressed', async () => {
    await writeFile(join(dir, 'list.txt'), 'id\nq\n');
    await writeFile(join(dir, 'z.csv.gz'), gzipSync('id\nz1\nz2\n'));
    expect(
      (
        await collect(fileCohortSource({ from: 'file', path: 'list.txt', format: 'csv' }, { cwd: dir }))
      ).flat(),
    ).toEqual(['q']);
    expect(
      (await collect(fileCohortSource({ from: 'file', path: 'z.csv.gz' }, { cwd: dir }))).flat(),
    ).toEqual(['z1', 'z2']);
  });

  it('an unknown extension without a format is a config error at open', () => {
    expect(() => fileCohortSource({ from: 'file', path: 'list.txt' })).toThrow(
      'file list.txt: cannot tell its format from the name; set format: csv, json or ndjson',
    );
  });

  it('a missing file is a permanent not_found error; a directory a config error', async () => {
    const missing = await rejection(fileCohortSource({ from: 'file', path: 'nope.csv' }, { cwd: dir }));
    expect(missing).toMatchObject({
      reason: 'not_found',
      retryable: false,
      message: 'file nope.csv: no such file',
    });
    const directory = await rejection(fileCohortSource({ from: 'file', path: dir, format: 'csv' }));
    expect(directory).toMatchObject({ reason: 'config', retryable: false });
  });

  it('a missing column is a permanent format error', async () => {
    await writeFile(join(dir, 'wrong.csv'), 'email\na@x.io\n');
    const err = await rejection(fileCohortSource({ from: 'file', path: 'wrong.csv' }, { cwd: dir }));
    expect(err).toMatchObject({ reason: 'format', retryable: false });
    expect(err.message).toContain(
      'file wrong.csv: the CSV header has no column "id" or "user_id" (header: "email")',
    );
  });

  it('reports progress per chunk and can be aborted', async () => {
    await writeFile(
      join(dir, 'big.csv'),
      `id\n${Array.from({ length: 5000 }, (_, i) => `m${i}`).join('\n')}\n`,
    );
    const source = fileCohortSource({ from: 'file', path: 'big.csv' }, { cwd: dir });
    const progress: CohortProgress[] = [];
    const controller = new AbortController();
    const seen: string[] = [];
    const err = await (async () => {
      for await (const chunk of source.members({
        chunkSize: 1000,
        signal: controller.signal,
        onProgress: (p) => progress.push(p),
      })) {
        seen.push(...chunk);
        if (seen.length >= 2000) controller.abort();
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ reason: 'aborted', retryable: false });
    expect(seen).toHaveLength(2000);
    expect(progress.map((p) => [p.phase, p.ids])).toEqual([
      ['downloading', 1000],
      ['downloading', 2000],
    ]);
  });

  it('can be read again (each members() call starts over)', async () => {
    await writeFile(join(dir, 'again.json'), '["a","b"]');
    const source = fileCohortSource({ from: 'file', path: 'again.json' }, { cwd: dir });
    expect((await collect(source)).flat()).toEqual(['a', 'b']);
    expect((await collect(source)).flat()).toEqual(['a', 'b']);
    expect(source.stats.ids).toBe(2);
  });
});

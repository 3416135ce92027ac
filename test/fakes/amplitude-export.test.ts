import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  DEFAULT_MAX_EXPORT_BYTES,
  downloadExport,
  EXPORT_API_HOSTS,
  ExportApiError,
  exportUrl,
} from '../../src/backfill/export-api.ts';
import type { DownloadExportOptions, ExportDownload } from '../../src/backfill/export-api.ts';
import { addHours, parseExportHour, splitRange } from '../../src/backfill/export-hours.ts';
import type { ExportHour } from '../../src/backfill/export-hours.ts';
import { readExportZip } from '../../src/backfill/export-zip.ts';
import type { ExportRecord } from '../../src/backfill/export-zip.ts';
import { EXPORT_COLUMNS, exportEvent, exportTime, exportTimes } from './amplitude-export-format.ts';
import { memberName, NOT_FOUND_TEXT, startFakeAmplitudeExport, TOO_LARGE_TEXT } from './amplitude-export.ts';
import type { FakeAmplitudeExport } from './amplitude-export.ts';

const KEYS = { apiKey: 'key-alpha-1234', secretKey: 'secret-alpha-5678' };
const H = (text: string): ExportHour => parseExportHour(text);
const at = (text: string, minute = 0) => Date.UTC(2026, 10, 1, H(text) % 24, minute, 7, 123);

/** Rows for 2026-11-01 hours 03, 05 (5 rows: three partitions of 2) and 07, by server_upload_time. */
function rows(): Record<string, unknown>[] {
  const row = (hour: string, n: number) =>
    exportEvent({
      user_id: `user-${hour}-${n}`,
      event_type: 'Order Completed',
      event_properties: { n },
      server_upload_time: at(hour, n),
      app: 424242,
    });
  return [
    row('20261101T05', 0),
    row('20261101T07', 0),
    row('20261101T03', 0),
    ...[1, 2, 3, 4].map((n) => row('20261101T05', n)),
  ];
}

let fake: FakeAmplitudeExport;
let dir: string;

beforeAll(async () => {
  fake = await startFakeAmplitudeExport({
    projects: [
      { ...KEYS, app: 424242, events: rows() },
      {
        apiKey: 'key-beta',
        secretKey: 'secret-beta',
        app: 99,
        events: new Map([['20261101T05', [{ b: 1 }]]]),
      },
    ],
    partitionRows: 2,
  });
  dir = await mkdtemp(join(tmpdir(), 'amplitude-export-'));
});

afterAll(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  fake.requests.length = 0;
  fake.delayMs = 0;
  fake.deflate = false;
  fake.reverseMembers = false;
  fake.maxBytes = 4_000_000_000;
  for (const file of await readdir(dir)) await rm(join(dir, file));
});

function options(): Omit<DownloadExportOptions, 'from' | 'to'> {
  return { ...KEYS, region: 'us', baseUrl: fake.url, directory: dir };
}

function download(
  from: string,
  to: string,
  extra: Partial<DownloadExportOptions> = {},
): Promise<ExportDownload> {
  return downloadExport({ ...options(), from: H(from), to: H(to), ...extra });
}

async function failure(promise: Promise<unknown>): Promise<ExportApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ExportApiError);
  return err as ExportApiError;
}

async function readAll(path: string): Promise<ExportRecord[]> {
  const out: ExportRecord[] = [];
  for await (const record of readExportZip(path)) out.push(record);
  return out;
}

describe('a range with data', () => {
  it('downloads the zip and reads it back in hour and partition order', async () => {
    fake.reverseMembers = true;
    const result = await download('20261101T00', '20261101T23');
    expect(result.kind).toBe('zip');
    if (result.kind !== 'zip') return;
    expect(result.path.startsWith(dir)).toBe(true);
    expect(result.bytes).toBeGreaterThan(0);

    const records = await readAll(result.path);
    expect(records.map((r) => r.record['user_id'])).toEqual([
      'user-20261101T03-0',
      'user-20261101T05-0',
      'user-20261101T05-1',
      'user-20261101T05-2',
      'user-20261101T05-3',
      'user-20261101T05-4',
      'user-20261101T07-0',
    ]);
    expect(records.map((r) => [r.member, r.partition, r.line])).toEqual([
      ['424242/424242_2026-11-01_3#0.json.gz', 0, 1],
      ['424242/424242_2026-11-01_5#0.json.gz', 0, 1],
      ['424242/424242_2026-11-01_5#0.json.gz', 0, 2],
      ['424242/424242_2026-11-01_5#1.json.gz', 1, 1],
      ['424242/424242_2026-11-01_5#1.json.gz', 1, 2],
      ['424242/424242_2026-11-01_5#2.json.gz', 2, 1],
      ['424242/424242_2026-11-01_7#0.json.gz', 0, 1],
    ]);
    expect(records.map((r) => r.hour)).toEqual([3, 5, 5, 5, 5, 5, 7].map((h) => H(`20261101T0${h}`)));
    expect(Object.keys(records[0]?.record ?? {})).toEqual([...EXPORT_COLUMNS]);
    expect(fake.requests).toEqual([
      { start: '20261101T00', end: '20261101T23', status: 200, authorized: true, app: 424242 },
    ]);
  });

  it('includes both ends of the range, and only the hours in it', async () => {
    const result = await download('20261101T05', '20261101T07');
    if (result.kind !== 'zip') throw new Error(`expected a zip, got ${result.kind}`);
    const hours = new Set((await readAll(result.path)).map((r) => r.hour));
    expect([...hours]).toEqual([H('20261101T05'), H('20261101T07')]);
  });

  it('reads deflated members the same as stored ones', async () => {
    fake.deflate = true;
    const result = await download('20261101T05', '20261101T05');
    if (result.kind !== 'zip') throw new Error(`expected a zip, got ${result.kind}`);
    expect((await readAll(result.path)).map((r) => r.record['event_properties'])).toEqual(
      [0, 1, 2, 3, 4].map((n) => ({ n })),
    );
  });

  it("answers each project's own rows by its keys", async () => {
    const result = await download('20261101T05', '20261101T05', {
      apiKey: 'key-beta',
      secretKey: 'secret-beta',
    });
    if (result.kind !== 'zip') throw new Error(`expected a zip, got ${result.kind}`);
    expect(await readAll(result.path)).toEqual([
      {
        member: memberName(99, H('20261101T05'), 0),
        hour: H('20261101T05'),
        partition: 0,
        line: 1,
        index: 0,
        bytes: Buffer.byteLength(JSON.stringify({ b: 1 })),
        record: { b: 1 },
      },
    ]);
  });

  it('reports progress as the bytes arrive', async () => {
    const seen: number[] = [];
    const result = await download('20261101T00', '20261101T23', { onProgress: (bytes) => seen.push(bytes) });
    if (result.kind !== 'zip') throw new Error(`expected a zip, got ${result.kind}`);
    expect(seen.at(-1)).toBe(result.bytes);
  });
});

describe('answers that are not a zip', () => {
  it('takes a 404 as an empty range', async () => {
    expect(await download('20261101T04', '20261101T04')).toEqual({ kind: 'empty', message: NOT_FOUND_TEXT });
    expect(fake.requests[0]?.status).toBe(404);
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes a 400 as "too large", which splitting the range answers', async () => {
    const from = H('20261101T03');
    const to = H('20261101T07');
    fake.maxBytes = fake.dataBytes(KEYS.apiKey, from, to) - 1;
    const err = await failure(downloadExport({ ...options(), from, to }));
    expect(err).toMatchObject({ kind: 'too_large', status: 400, retryable: false });
    expect(err.message).toContain(TOO_LARGE_TEXT);

    const halves = splitRange(from, to);
    expect(halves).toEqual([
      { from, to: H('20261101T05') },
      { from: H('20261101T06'), to },
    ]);
    for (const half of halves ?? [])
      expect((await downloadExport({ ...options(), ...half })).kind).toBe('zip');
    expect(fake.requests.map((r) => r.status)).toEqual([400, 200, 200]);
  });

  it('takes a 403 as wrong credentials, without naming them', async () => {
    const err = await failure(download('20261101T00', '20261101T23', { secretKey: 'not-the-secret' }));
    expect(err).toMatchObject({ kind: 'credentials', status: 403, retryable: false });
    expect(err.message).toMatch(/Invalid API Key: check the project's API key and secret key/);
    expect(err.message).toMatch(/data region is "us"/);
    for (const secret of [
      KEYS.apiKey,
      'not-the-secret',
      Buffer.from(`${KEYS.apiKey}:not-the-secret`).toString('base64'),
    ]) {
      expect(err.message).not.toContain(secret);
      expect(JSON.stringify(err)).not.toContain(secret);
    }
    expect(fake.requests[0]).toMatchObject({ status: 403, authorized: false });
  });

  it('takes a 503, then succeeds when asked again', async () => {
    fake.failNext(1, 503);
    const err = await failure(download('20261101T03', '20261101T03'));
    expect(err).toMatchObject({ kind: 'retryable', status: 503, retryable: true });
    expect(err.message).toMatch(/HTTP 503: Service Unavailable/);
    expect((await download('20261101T03', '20261101T03')).kind).toBe('zip');
    expect(fake.requests.map((r) => r.status)).toEqual([503, 200]);
  });

  it('takes a 504 and a 429 as retryable, with Retry-After', async () => {
    fake.failNext(1, 504);
    fake.failNext(1, 429, { headers: { 'retry-after': '7' } });
    expect(await failure(download('20261101T03', '20261101T03'))).toMatchObject({
      kind: 'retryable',
      status: 504,
    });
    expect(await failure(download('20261101T03', '20261101T03'))).toMatchObject({
      kind: 'retryable',
      status: 429,
      retryAfterMs: 7000,
    });
  });

  it('takes another 4xx as a bad request', async () => {
    fake.failNext(1, 422, { body: 'nope' });
    expect(await failure(download('20261101T03', '20261101T03'))).toMatchObject({
      kind: 'bad_request',
      status: 422,
      retryable: false,
    });
  });

  it('refuses a range the API cannot take without asking it', async () => {
    const from = H('20260101T00');
    const tooLong = downloadExport({ ...options(), from, to: addHours(from, 8760) });
    expect(await failure(tooLong)).toMatchObject({ kind: 'bad_request', status: undefined });
    const backwards = download('20261101T05', '20261101T04');
    expect((await failure(backwards)).message).toMatch(/end is before the start/);
    expect(fake.requests).toEqual([]);
  });
});

describe('timeouts, caps and aborts', () => {
  it('gives up on a slow answer at the headers timeout, as retryable', async () => {
    fake.delayMs = 2000;
    const started = Date.now();
    const err = await failure(download('20261101T03', '20261101T03', { headersTimeoutMs: 200 }));
    expect(err).toMatchObject({ kind: 'retryable', status: undefined });
    expect(err.message).toMatch(/no answer within 200 ms/);
    expect(Date.now() - started).toBeLessThan(1900);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a declared length over the cap before downloading', async () => {
    const err = await failure(download('20261101T00', '20261101T23', { maxBytes: 100 }));
    expect(err).toMatchObject({ kind: 'too_large', status: 200 });
    expect(err.message).toMatch(/passed 100 bytes/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('cuts off a chunked download at the cap and removes the partial file', async () => {
    fake.deflate = true; // yazl cannot know the length in advance: no Content-Length
    const err = await failure(download('20261101T00', '20261101T23', { maxBytes: 300 }));
    expect(err).toMatchObject({ kind: 'too_large' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('stops when the caller aborts', async () => {
    fake.delayMs = 2000;
    const signal = AbortSignal.timeout(100);
    const err = await failure(download('20261101T03', '20261101T03', { signal }));
    expect(err).toMatchObject({ kind: 'aborted', retryable: false });
  });

  it('takes a refused connection as retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await failure(
      download('20261101T03', '20261101T03', { baseUrl: `http://127.0.0.1:${port}` }),
    );
    expect(err).toMatchObject({ kind: 'retryable' });
    expect(err.message).toMatch(/network error: .*ECONNREFUSED/);
    expect(err.message).toContain(`(127.0.0.1:${port})`);
  });

  it('has a default cap just over 4 GB', () => {
    expect(DEFAULT_MAX_EXPORT_BYTES).toBeGreaterThan(4 * 1024 ** 3);
  });
});

describe('the fake itself', () => {
  const get = async (query: string, keys = KEYS) => {
    const authorization = `Basic ${Buffer.from(`${keys.apiKey}:${keys.secretKey}`).toString('base64')}`;
    const res = await fetch(`${fake.url}/api/2/export${query}`, { headers: { authorization } });
    return { status: res.status, text: await res.text() };
  };

  it('checks start and end as the docs describe them', async () => {
    expect((await get('?start=20261101T00')).status).toBe(400);
    expect((await get('?start=2026-11-01T00&end=20261101T01')).status).toBe(400);
    expect((await get('?start=20261101T05&end=20261101T04')).status).toBe(400);
    expect((await get('?start=20250101T00&end=20260101T00')).status).toBe(400);
    expect((await get('?start=20250101T00&end=20251231T23')).status).toBe(404);
  });

  it('sends a Content-Length for stored members only (deflating, yazl cannot know it)', async () => {
    const query = '?start=20261101T00&end=20261101T23';
    const authorization = `Basic ${Buffer.from(`${KEYS.apiKey}:${KEYS.secretKey}`).toString('base64')}`;
    const stored = await fetch(`${fake.url}/api/2/export${query}`, { headers: { authorization } });
    const storedBytes = (await stored.arrayBuffer()).byteLength;
    expect(stored.headers.get('content-type')).toBe('application/zip');
    expect(stored.headers.get('content-length')).toBe(String(storedBytes));
    fake.deflate = true;
    const deflated = await fetch(`${fake.url}/api/2/export${query}`, { headers: { authorization } });
    await deflated.arrayBuffer();
    expect(deflated.headers.get('content-length')).toBeNull();
  });

  it('answers 403 to a missing Authorization header', async () => {
    const res = await fetch(`${fake.url}/api/2/export?start=20261101T00&end=20261101T01`);
    expect([res.status, await res.text()]).toEqual([403, 'Invalid API Key']);
  });

  it('numbers partitions from `firstPartition`', async () => {
    const other = await startFakeAmplitudeExport({
      projects: [{ ...KEYS, events: new Map([[H('20261101T05'), [{ a: 1 }, { a: 2 }]]]) }],
      partitionRows: 1,
      firstPartition: 1,
    });
    try {
      const result = await downloadExport({
        ...KEYS,
        region: 'eu',
        baseUrl: other.url,
        from: H('20261101T05'),
        to: H('20261101T05'),
        directory: dir,
      });
      if (result.kind !== 'zip') throw new Error(`expected a zip, got ${result.kind}`);
      expect((await readAll(result.path)).map((r) => r.member)).toEqual([
        '187520/187520_2026-11-01_5#1.json.gz',
        '187520/187520_2026-11-01_5#2.json.gz',
      ]);
    } finally {
      await other.close();
    }
  });
});

describe('export URLs', () => {
  it('uses the region hosts unless a base URL is given', () => {
    const range = { from: H('20261101T00'), to: H('20261101T23') };
    expect(exportUrl({ region: 'us', ...range })).toBe(
      'https://amplitude.com/api/2/export?start=20261101T00&end=20261101T23',
    );
    expect(exportUrl({ region: 'eu', ...range })).toBe(
      `${EXPORT_API_HOSTS.eu}/api/2/export?start=20261101T00&end=20261101T23`,
    );
    expect(exportUrl({ region: 'eu', baseUrl: 'http://127.0.0.1:9/', ...range })).toBe(
      'http://127.0.0.1:9/api/2/export?start=20261101T00&end=20261101T23',
    );
  });
});

describe('export-format rows', () => {
  it('carries all 55 columns, sorted, nulls where there is no value', () => {
    const row = exportEvent({ user_id: 'u1', client_event_time: Date.UTC(2025, 6, 1, 16, 34, 54, 837) });
    expect(Object.keys(row)).toEqual([...EXPORT_COLUMNS].sort());
    expect(Object.keys(row)).toHaveLength(55);
    expect(row).toMatchObject({
      client_event_time: '2025-07-01 16:34:54.837000',
      event_time: '2025-07-01 16:34:54.837000',
      session_id: -1,
      dma: null,
      library: 'http/2.0',
      data: { path: '/2/httpapi', group_first_event: {}, group_ids: {} },
    });
    expect(typeof row.$insert_id).toBe('string');
    expect(String(row.amplitude_id)).toMatch(/^\d{13}$/);
    expect(exportEvent({ user_id: 'u1' }).amplitude_id).toBe(row.amplitude_id);
  });

  it('moves event_time by the upload gap only when it is at least 60 s', () => {
    const clientEvent = Date.UTC(2025, 6, 1, 10);
    const late = exportTimes({
      client_event_time: clientEvent,
      client_upload_time: clientEvent,
      server_received_time: clientEvent + 120_000,
    });
    expect(late.event_time).toBe(clientEvent + 120_000);
    const close = exportTimes({
      client_event_time: clientEvent,
      client_upload_time: clientEvent,
      server_received_time: clientEvent + 59_999,
    });
    expect(close.event_time).toBe(clientEvent);
  });

  it('writes times with 6 digits, or 3 for the webhook form', () => {
    const ms = Date.UTC(2022, 1, 28, 20, 7, 1, 795);
    expect(exportTime(ms)).toBe('2022-02-28 20:07:01.795000');
    expect(exportTime(ms, 3)).toBe('2022-02-28 20:07:01.795');
    expect(exportTime(ms + 0.636)).toBe('2022-02-28 20:07:01.795636');
  });
});

/**
 * Downloads one range of raw events from Amplitude's Export API to a file:
 *
 *   GET {base}/api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH    HTTP Basic apiKey:secretKey
 *
 *   200  a zip of gzipped NDJSON files, streamed to disk (it may be gigabytes)
 *   404  no data in the range ("Raw data files were not found.") — an answer, not an error
 *   400  "The file size of the exported data is too large. Shorten the time ranges…" (4 GB)
 *   403  wrong keys or the wrong data region (401 treated alike)
 *   504  the export took the server too long (a smaller range is more likely to work)
 *
 * Each failure is classified here into an `ExportApiError` kind, so the caller (a Temporal activity)
 * only decides what to do: split the range, stop, or try again. Keys appear in the Authorization
 * header only — never in a message, a URL or a file name.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';

import { header, readSnippet, release } from '../cohorts/http.ts';
import type { ResponseData } from '../cohorts/http.ts';
import { snippet } from '../cohorts/errors.ts';
import { parseRetryAfter } from '../customerio/classify.ts';
import { checkExportRange, ExportHourError, formatExportHour } from './export-hours.ts';
import type { ExportHour } from './export-hours.ts';

export type ExportRegion = 'us' | 'eu';

export const EXPORT_API_HOSTS: Readonly<Record<ExportRegion, string>> = {
  us: 'https://amplitude.com',
  eu: 'https://analytics.eu.amplitude.com',
};

/** Amplitude refuses exports over 4 GB; the slack lets a download just over it finish. */
export const DEFAULT_MAX_EXPORT_BYTES = 4 * 1024 ** 3 + 256 * 1024 ** 2;

export type ExportApiErrorKind =
  /** 400: the range holds more than 4 GB. Split it and ask for each half. */
  | 'too_large'
  /** 401/403: the keys, or the region, are wrong. Permanent until someone fixes the config. */
  | 'credentials'
  /** Any other 4xx or 3xx, or a range the API cannot take. Permanent. */
  | 'bad_request'
  /** 408, 429, 5xx (504 included), timeouts, broken connections. Try again later. */
  | 'retryable'
  /** Writing the download to disk failed. The disk, not Amplitude: worth trying again elsewhere. */
  | 'io'
  /** The caller's signal aborted the download. */
  | 'aborted';

const RETRYABLE_KINDS: ReadonlySet<ExportApiErrorKind> = new Set(['retryable', 'io']);

export class ExportApiError extends Error {
  override name = 'ExportApiError';
  readonly kind: ExportApiErrorKind;
  /** HTTP status, when an answer caused it. */
  readonly status: number | undefined;
  readonly retryable: boolean;
  /** How long the server asked us to wait (Retry-After), when it did. */
  readonly retryAfterMs: number | undefined;

  constructor(
    kind: ExportApiErrorKind,
    message: string,
    options: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.status = options.status;
    this.retryable = RETRYABLE_KINDS.has(kind);
    this.retryAfterMs = options.retryAfterMs;
  }
}

export interface DownloadExportOptions {
  apiKey: string;
  secretKey: string;
  region: ExportRegion;
  /** Overrides the region's host (a proxy, or a test server). */
  baseUrl?: string;
  /** First and last upload hour, both included. */
  from: ExportHour;
  to: ExportHour;
  /** Where the zip is written; it must exist. The file is the caller's to delete. */
  directory: string;
  /** Default 30 s. */
  connectTimeoutMs?: number;
  /** From sending the request to the last header: Amplitude prepares the export first. Default 10 min. */
  headersTimeoutMs?: number;
  /** The longest pause between two body chunks. Default 2 min. */
  bodyIdleTimeoutMs?: number;
  /** A longer body is cut off as `too_large`. Default DEFAULT_MAX_EXPORT_BYTES. */
  maxBytes?: number;
  signal?: AbortSignal;
  /** Called with the bytes written so far after each chunk, e.g. to heartbeat. */
  onProgress?: (bytes: number) => void;
  /** Default: an agent of its own with the timeouts above, closed afterwards. */
  dispatcher?: Dispatcher;
}

export type ExportDownload =
  | { kind: 'zip'; path: string; bytes: number }
  /** 404: nothing was uploaded in the range. `message` is the answer's text, for a log. */
  | { kind: 'empty'; message: string };

interface Timeouts {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyIdleTimeoutMs: number;
}

export async function downloadExport(options: DownloadExportOptions): Promise<ExportDownload> {
  const what = describeRequest(options);
  try {
    checkExportRange(options.from, options.to);
  } catch (err) {
    if (err instanceof ExportHourError) throw new ExportApiError('bad_request', `${what}: ${err.message}`);
    throw err;
  }
  const timeouts = {
    connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
    headersTimeoutMs: options.headersTimeoutMs ?? 600_000,
    bodyIdleTimeoutMs: options.bodyIdleTimeoutMs ?? 120_000,
  };
  const agent = options.dispatcher ?? createExportAgent(timeouts);
  try {
    const answer = await send(options, agent, what, timeouts);
    if (answer.statusCode === 200) return await saveBody(answer, options, what, timeouts);
    return await refusal(answer, what, options.region);
  } finally {
    if (options.dispatcher === undefined) await (agent as Agent).destroy();
  }
}

function createExportAgent(timeouts: Timeouts): Agent {
  return new Agent({
    connectTimeout: timeouts.connectTimeoutMs,
    headersTimeout: timeouts.headersTimeoutMs,
    bodyTimeout: timeouts.bodyIdleTimeoutMs,
    connections: 1,
  });
}

export function exportUrl(
  options: Pick<DownloadExportOptions, 'region' | 'baseUrl' | 'from' | 'to'>,
): string {
  const base = (options.baseUrl ?? EXPORT_API_HOSTS[options.region]).replace(/\/+$/, '');
  return `${base}/api/2/export?start=${formatExportHour(options.from)}&end=${formatExportHour(options.to)}`;
}

function describeRequest(options: DownloadExportOptions): string {
  const where = options.baseUrl === undefined ? options.region : safeHost(options.baseUrl);
  const range = Number.isSafeInteger(options.from) && Number.isSafeInteger(options.to);
  const hours = range ? `${formatExportHour(options.from)}..${formatExportHour(options.to)}` : '(bad range)';
  return `Amplitude export ${hours} (${where})`;
}

async function send(
  options: DownloadExportOptions,
  agent: Dispatcher,
  what: string,
  timeouts: Timeouts,
): Promise<ResponseData> {
  const authorization = `Basic ${Buffer.from(`${options.apiKey}:${options.secretKey}`).toString('base64')}`;
  try {
    return await request(exportUrl(options), {
      method: 'GET',
      dispatcher: agent,
      headers: { authorization, 'accept-encoding': 'identity' },
      ...(options.signal !== undefined && { signal: options.signal }),
    });
  } catch (err) {
    throw transportError(err, what, options.signal, timeouts);
  }
}

/** Streams a 200 body to a new file; on any failure the partial file is removed. */
async function saveBody(
  answer: ResponseData,
  options: DownloadExportOptions,
  what: string,
  timeouts: Timeouts,
): Promise<ExportDownload> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_EXPORT_BYTES;
  const declared = Number(header(answer.headers, 'content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    release(answer);
    throw tooLargeBody(what, declared, maxBytes);
  }
  const name = `amplitude-export-${formatExportHour(options.from)}-${formatExportHour(options.to)}-${randomUUID()}.zip`;
  const path = join(options.directory, name);
  const file = createWriteStream(path, { flags: 'wx' });
  let fileError: unknown;
  file.on('error', (err) => (fileError = err));
  const counter = byteCounter(maxBytes, what, options.onProgress);
  try {
    await pipeline(answer.body, counter.stream, file);
  } catch (err) {
    release(answer);
    await rm(path, { force: true });
    if (err instanceof ExportApiError) throw err;
    if (err === fileError) {
      throw new ExportApiError('io', `${what}: writing ${path} failed: ${describeError(err)}`, {
        cause: err,
      });
    }
    throw transportError(err, what, options.signal, timeouts);
  }
  return { kind: 'zip', path, bytes: counter.bytes() };
}

function byteCounter(
  maxBytes: number,
  what: string,
  onProgress: ((bytes: number) => void) | undefined,
): { stream: Transform; bytes: () => number } {
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        callback(tooLargeBody(what, bytes, maxBytes));
        return;
      }
      onProgress?.(bytes);
      callback(null, chunk);
    },
  });
  return { stream, bytes: () => bytes };
}

function tooLargeBody(what: string, bytes: number, maxBytes: number): ExportApiError {
  return new ExportApiError(
    'too_large',
    `${what}: the download passed ${maxBytes} bytes (${bytes} so far); split the range`,
    { status: 200 },
  );
}

/** Any answer but 200: 404 means no data; everything else is an error of its kind. */
async function refusal(answer: ResponseData, what: string, region: ExportRegion): Promise<ExportDownload> {
  const status = answer.statusCode;
  const text = snippet(await readSnippet(answer));
  const detail = `${what}: HTTP ${status}${text ? `: ${text}` : ''}`;
  if (status === 404) return { kind: 'empty', message: text };
  if (status === 400) {
    // The only 400 Amplitude documents is "too large"; the range itself was checked before sending.
    throw new ExportApiError('too_large', `${detail} (split the range)`, { status });
  }
  if (status === 401 || status === 403) {
    throw new ExportApiError(
      'credentials',
      `${detail}: check the project's API key and secret key, and that its data region is "${region}"`,
      { status },
    );
  }
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(header(answer.headers, 'retry-after'));
    throw new ExportApiError('retryable', detail, {
      status,
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    });
  }
  throw new ExportApiError('bad_request', detail, { status });
}

const TIMEOUTS: Readonly<Record<string, (t: Timeouts) => string>> = {
  UND_ERR_CONNECT_TIMEOUT: (t) => `could not connect within ${t.connectTimeoutMs} ms`,
  UND_ERR_HEADERS_TIMEOUT: (t) => `no answer within ${t.headersTimeoutMs} ms`,
  UND_ERR_BODY_TIMEOUT: (t) => `the download stalled for ${t.bodyIdleTimeoutMs} ms`,
};

/** A failure before or while the answer was read. All of them may pass, except the caller's abort. */
function transportError(
  err: unknown,
  what: string,
  signal: AbortSignal | undefined,
  timeouts: Timeouts,
): ExportApiError {
  if (err instanceof ExportApiError) return err;
  if (signal?.aborted === true) {
    return new ExportApiError('aborted', `${what}: aborted`, { cause: err });
  }
  const code = errorCode(err);
  const timeout = code === undefined ? undefined : TIMEOUTS[code];
  const reason = timeout !== undefined ? timeout(timeouts) : `network error: ${describeError(err)}`;
  return new ExportApiError('retryable', `${what}: ${reason}`, { cause: err });
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function describeError(err: unknown): string {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'custom URL';
  }
}

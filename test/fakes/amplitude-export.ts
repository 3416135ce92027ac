/**
 * A fake Amplitude Export API for tests: one node:http server on 127.0.0.1 answering
 * `GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH` the way the docs and public readers describe
 * it (docs' source-platforms notes, section B):
 *
 *   - HTTP Basic `apiKey:secretKey` of one of the configured projects, else 403 `Invalid API Key`
 *     (a missing header too: what Amplitude answers then is not documented);
 *   - `start`/`end` missing or not `YYYYMMDDTHH`, `end` before `start`, or more than 365 days → 400
 *     (the texts are made up: Amplitude documents only the "too large" 400);
 *   - both ends included; rows are picked by their upload hour;
 *   - no rows in the range → 404 `Raw data files were not found.`;
 *   - the gzipped members together over `maxBytes` → 400 with Amplitude's "too large" text;
 *   - otherwise 200 `application/zip`, streamed, of `<app>/<app>_<YYYY-MM-DD>_<H>#<n>.json.gz`
 *     members: an hour's rows cut into partitions of `partitionRows`, each gzipped NDJSON, STORED
 *     (Amplitude's usual, with a Content-Length) or DEFLATED (`deflate: true`, chunked).
 *
 * Rows are given per project either as a Map from upload hour to rows, or as an array of export-format
 * rows bucketed by their `server_upload_time`. A row that is a string is written as that line, so a
 * test can put a broken line in a file. Failures are scripted with `failNext` and `delayMs`.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import yazl from 'yazl';

import {
  exportHourOfMs,
  exportHourToMs,
  hoursBetween,
  MAX_RANGE_HOURS,
  parseExportHour,
} from '../../src/backfill/export-hours.ts';
import type { ExportHour } from '../../src/backfill/export-hours.ts';
import { DEFAULT_APP, parseExportTime } from './amplitude-export-format.ts';

export type FakeExportRow = Readonly<Record<string, unknown>> | string;

/** Rows per upload hour (an ExportHour or `YYYYMMDDTHH`), or rows placed by their server_upload_time. */
export type FakeExportEvents =
  | ReadonlyMap<ExportHour | string, readonly FakeExportRow[]>
  | ReadonlyArray<Readonly<Record<string, unknown>>>;

export interface FakeExportProject {
  apiKey: string;
  secretKey: string;
  /** The project id, which names the members. Default 187520. */
  app?: number;
  events?: FakeExportEvents;
}

export interface FakeAmplitudeExportOptions {
  /** Default: one project with keys `amp-api-key` / `amp-secret-key` and no events. */
  projects?: FakeExportProject[];
  /** Rows in one member file. Default 1000. */
  partitionRows?: number;
  /** Number of an hour's first file (`#0`; Amplitude's S3 docs call `#1` the first). Default 0. */
  firstPartition?: number;
  /** DEFLATE the members inside the zip instead of storing them. Default false. */
  deflate?: boolean;
  /** Largest export answered, as the sum of the gzipped members. Default 4 GB. */
  maxBytes?: number;
  /** Wait this long before answering anything. Default 0. */
  delayMs?: number;
  /** Members in the zip's directory newest first, to check a reader sorts them. Default false. */
  reverseMembers?: boolean;
}

export interface FakeExportRequest {
  start: string | null;
  end: string | null;
  /** Answer status; 0 when the client went away before it was sent. */
  status: number;
  /** Whether the credentials were those of a configured project. */
  authorized: boolean;
  /** The project the credentials belong to. */
  app: number | undefined;
}

export interface FakeExportFailure {
  body?: string;
  headers?: Record<string, string>;
}

export const TOO_LARGE_TEXT =
  'The file size of the exported data is too large. Shorten the time ranges and try again. The limit size is 4GB.';
export const NOT_FOUND_TEXT = 'Raw data files were not found.';

const DEFAULT_FAILURE_TEXT: Readonly<Record<number, string>> = {
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

interface Project {
  apiKey: string;
  secretKey: string;
  app: number;
  hours: Map<ExportHour, FakeExportRow[]>;
}

interface Member {
  name: string;
  gz: Buffer;
}

export class FakeAmplitudeExport {
  readonly url: string;
  readonly requests: FakeExportRequest[] = [];
  partitionRows: number;
  firstPartition: number;
  deflate: boolean;
  maxBytes: number;
  delayMs: number;
  reverseMembers: boolean;

  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();
  readonly #projects: Project[];
  #failures: { remaining: number; status: number; failure: FakeExportFailure }[] = [];

  constructor(server: http.Server, url: string, options: FakeAmplitudeExportOptions) {
    this.#server = server;
    this.url = url;
    this.partitionRows = options.partitionRows ?? 1000;
    this.firstPartition = options.firstPartition ?? 0;
    this.deflate = options.deflate ?? false;
    this.maxBytes = options.maxBytes ?? 4_000_000_000;
    this.delayMs = options.delayMs ?? 0;
    this.reverseMembers = options.reverseMembers ?? false;
    const projects = options.projects ?? [{ apiKey: 'amp-api-key', secretKey: 'amp-secret-key' }];
    this.#projects = projects.map((p) => ({
      apiKey: p.apiKey,
      secretKey: p.secretKey,
      app: p.app ?? DEFAULT_APP,
      hours: byHour(p.events ?? []),
    }));
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  /** The next `n` requests are answered `status` (503, 504, 429, …) before anything else is checked. */
  failNext(n: number, status: number, failure: FakeExportFailure = {}): void {
    this.#failures.push({ remaining: n, status, failure });
  }

  /** Replaces a project's rows (found by its API key). */
  setEvents(apiKey: string, events: FakeExportEvents): void {
    const project = this.#projects.find((p) => p.apiKey === apiKey);
    if (project === undefined) throw new Error(`no fake project has the API key ${apiKey}`);
    project.hours = byHour(events);
  }

  /** What a request for `from`..`to` would weigh against `maxBytes`: its gzipped members together. */
  dataBytes(apiKey: string, from: ExportHour, to: ExportHour): number {
    const project = this.#projects.find((p) => p.apiKey === apiKey);
    if (project === undefined) throw new Error(`no fake project has the API key ${apiKey}`);
    return this.#members(project, from, to).reduce((sum, m) => sum + m.gz.length, 0);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.resume();
    const url = new URL(req.url ?? '/', this.url);
    const project = this.#projectOf(req.headers.authorization);
    const record: FakeExportRequest = {
      start: url.searchParams.get('start'),
      end: url.searchParams.get('end'),
      status: 0,
      authorized: project !== undefined,
      app: project?.app,
    };
    this.requests.push(record);
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (res.destroyed) return;

    const failure = this.#takeFailure();
    if (failure !== undefined) {
      const text =
        failure.failure.body ?? DEFAULT_FAILURE_TEXT[failure.status] ?? `scripted ${failure.status}`;
      return answer(res, record, failure.status, text, failure.failure.headers);
    }
    if (req.method !== 'GET' || url.pathname !== '/api/2/export') {
      return answer(res, record, 404, 'Not Found');
    }
    if (project === undefined) return answer(res, record, 403, 'Invalid API Key');
    const range = parseRange(record.start, record.end);
    if (typeof range === 'string') return answer(res, record, 400, range);

    const members = this.#members(project, range.from, range.to);
    if (members.length === 0) return answer(res, record, 404, NOT_FOUND_TEXT);
    const size = members.reduce((sum, m) => sum + m.gz.length, 0);
    if (size > this.maxBytes) return answer(res, record, 400, TOO_LARGE_TEXT);
    await this.#zip(res, record, members);
  }

  #projectOf(authorization: string | undefined): Project | undefined {
    if (authorization === undefined || !authorization.startsWith('Basic ')) return undefined;
    const pair = Buffer.from(authorization.slice('Basic '.length), 'base64').toString('utf8');
    return this.#projects.find((p) => pair === `${p.apiKey}:${p.secretKey}`);
  }

  #takeFailure(): { status: number; failure: FakeExportFailure } | undefined {
    const next = this.#failures[0];
    if (next === undefined) return undefined;
    if (--next.remaining <= 0) this.#failures.shift();
    return next;
  }

  /** The range's files in upload-hour order, each hour cut into partitions and gzipped. */
  #members(project: Project, from: ExportHour, to: ExportHour): Member[] {
    const members: Member[] = [];
    const hours = [...project.hours.keys()].filter((h) => h >= from && h <= to).sort((a, b) => a - b);
    for (const hour of hours) {
      const rows = project.hours.get(hour) ?? [];
      for (let start = 0, n = this.firstPartition; start < rows.length; start += this.partitionRows, n++) {
        const lines = rows.slice(start, start + this.partitionRows).map(lineOf);
        members.push({ name: memberName(project.app, hour, n), gz: gzipSync(`${lines.join('\n')}\n`) });
      }
    }
    return this.reverseMembers ? members.reverse() : members;
  }

  async #zip(res: http.ServerResponse, record: FakeExportRequest, members: Member[]): Promise<void> {
    const zip = new yazl.ZipFile();
    for (const member of members) {
      const { gz } = member;
      zip.addReadStreamLazy(member.name, { compress: this.deflate, size: gz.length }, (callback) =>
        callback(null, Readable.from([gz])),
      );
    }
    zip.end();
    const output = zip.outputStream as Readable;
    record.status = 200;
    if (this.deflate) {
      res.writeHead(200, { 'content-type': 'application/zip' });
      output.on('error', () => res.destroy());
      res.on('close', () => output.destroy());
      output.pipe(res);
      return;
    }
    // Stored, as Amplitude sends it, with its Content-Length: the zip is built first and measured
    // (yazl's own size count is 76 bytes off once the central directory passes 64 KiB).
    const chunks: Buffer[] = [];
    for await (const chunk of output) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    res.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(body.length) });
    res.end(body);
  }
}

export async function startFakeAmplitudeExport(
  options: FakeAmplitudeExportOptions = {},
): Promise<FakeAmplitudeExport> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const fake = new FakeAmplitudeExport(server, `http://127.0.0.1:${port}`, options);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    fake.handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`fake crashed: ${String(err)}`);
      } else {
        res.destroy();
      }
    });
  });
  return fake;
}

/** `<app>/<app>_<YYYY-MM-DD>_<H>#<n>.json.gz`, the hour not zero-padded. */
export function memberName(app: number, hour: ExportHour, partition: number): string {
  const iso = new Date(exportHourToMs(hour)).toISOString();
  return `${app}/${app}_${iso.slice(0, 10)}_${Number(iso.slice(11, 13))}#${partition}.json.gz`;
}

// ---- helpers -------------------------------------------------------------------------------------------

function answer(
  res: http.ServerResponse,
  record: FakeExportRequest,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  record.status = status;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(text);
}

function parseRange(start: string | null, end: string | null): { from: ExportHour; to: ExportHour } | string {
  if (start === null || end === null) return 'Missing required parameters: start and end';
  let from: ExportHour;
  let to: ExportHour;
  try {
    from = parseExportHour(start);
    to = parseExportHour(end);
  } catch {
    return 'Invalid start or end: expected YYYYMMDDTHH';
  }
  if (to < from) return 'The end time is before the start time';
  if (hoursBetween(from, to) > MAX_RANGE_HOURS) return 'The time range is longer than 365 days';
  return { from, to };
}

function byHour(events: FakeExportEvents): Map<ExportHour, FakeExportRow[]> {
  const hours = new Map<ExportHour, FakeExportRow[]>();
  if (events instanceof Map) {
    for (const [key, rows] of events as ReadonlyMap<ExportHour | string, readonly FakeExportRow[]>) {
      const hour = typeof key === 'string' ? parseExportHour(key) : key;
      const list = rowsAt(hours, hour);
      for (const row of rows) list.push(row);
    }
    return hours;
  }
  for (const row of events as ReadonlyArray<Readonly<Record<string, unknown>>>) {
    const uploaded = row['server_upload_time'];
    if (typeof uploaded !== 'string') {
      throw new Error('a fake export row without a server_upload_time cannot be placed in an hour');
    }
    rowsAt(hours, exportHourOfMs(parseExportTime(uploaded))).push(row);
  }
  return hours;
}

function rowsAt(hours: Map<ExportHour, FakeExportRow[]>, hour: ExportHour): FakeExportRow[] {
  let rows = hours.get(hour);
  if (rows === undefined) hours.set(hour, (rows = []));
  return rows;
}

function lineOf(row: FakeExportRow): string {
  return typeof row === 'string' ? row : JSON.stringify(row);
}

/**
 * A fake Amplitude Behavioral Cohorts API for tests: one node:http server on 127.0.0.1 that models the
 * cohort export (request → poll → download), records every request, and can be scripted to fail.
 *
 *   GET /api/5/cohorts/request/{cohortId}          202 {request_id, cohort_id}; 404 for an unknown cohort
 *   GET /api/5/cohorts/request-status/{requestId}  202 "JOB INPROGRESS" `pollsUntilReady` times, then
 *                                                  200 "JOB COMPLETED"
 *   GET /api/5/cohorts/request/{requestId}/file    200 with the CSV (small cohorts), or 302 to a
 *                                                  "pre-signed" /presigned/{token} link on this server
 *                                                  (cohorts over `inlineMaxMembers`)
 *   GET /presigned/{token}                         the CSV until the link's TTL passes, then 403 (S3's
 *                                                  "Request has expired"); 400 if it carries an
 *                                                  Authorization header, as S3 does when a pre-signed
 *                                                  request also brings another auth mechanism
 *
 * The API paths need HTTP Basic `apiKey:secretKey`: none → 401, a wrong pair → `wrongKeyStatus` (401 by
 * default; Amplitude has been seen answering 403 "Invalid API/Secret Key combination").
 *
 * The CSV has a header row and quotes every field: `"amplitude_id","user_id"`, then one column per
 * requested user property (`props=1&propKeys=…`). Members without a user id get an empty cell, as
 * Amplitude's anonymous users would. Where Amplitude's behaviour is undocumented the fake says so:
 *   - /file before the job completed answers 400 (undocumented);
 *   - an expired request id (past `exportTtlMs`, 7 days by default) answers 404 on status and /file.
 * Large cohorts may be given as `{ count, member(i) }` and are written as a stream with backpressure, so
 * a million-member export costs the fake no memory.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';

export interface FakeCohortMember {
  /** Absent or null: an anonymous user, exported with an empty user_id. */
  user_id?: string | null;
  amplitude_id?: number;
  properties?: Record<string, string>;
}

export type FakeCohortMembers =
  | ReadonlyArray<string | FakeCohortMember>
  | { count: number; member: (index: number) => string | FakeCohortMember };

export type FakeCohortStep = 'request' | 'status' | 'file' | 'download' | 'other';

export interface FakeAmplitudeCohortsOptions {
  apiKey?: string;
  secretKey?: string;
  /** Status of a request with Basic auth but the wrong key pair. Default 401. */
  wrongKeyStatus?: 401 | 403;
  cohorts?: Record<string, FakeCohortMembers>;
  /** 202 "JOB INPROGRESS" answers each export gives before it completes. Default 0. */
  pollsUntilReady?: number;
  /** Cohorts with more members are downloaded through a 302 to a pre-signed link. Default 1000. */
  inlineMaxMembers?: number;
  /** How long a pre-signed link works. Default 60 s, as documented. */
  linkTtlMs?: number;
  /** How long a request id stays downloadable. Default 7 days, as documented. */
  exportTtlMs?: number;
}

export interface AmplitudeRecordedRequest {
  seq: number;
  step: FakeCohortStep;
  method: string;
  path: string;
  query: Record<string, string[]>;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** Whether the request carried the right Basic credentials. */
  authorized: boolean;
  /** Answer status; 0 when the connection was reset or the body broken off. */
  status: number | undefined;
  receivedAt: number;
}

export interface FakeCohortExport {
  requestId: string;
  cohortId: string;
  members: FakeCohortMembers;
  propKeys: string[];
  polls: number;
  pollsUntilReady: number;
  createdAt: number;
  expired: boolean;
}

export interface FakeCohortFault {
  step?: FakeCohortStep;
  /** Exact path or RegExp tested against it. */
  path?: string | RegExp;
  status: number;
  /** Object → JSON; string → as is. Default `{ error: … }`. */
  body?: unknown;
  /** Seconds, or a raw header value. */
  retryAfter?: number | string;
  headers?: Record<string, string>;
}

export interface FakeCohortScript {
  /** The next `n` matching requests get `fault.status` instead of their answer. */
  failNext(n: number, fault: FakeCohortFault): void;
  /** The next `n` matching requests get a TCP reset. */
  resetConnectionNext(n: number, match?: { step?: FakeCohortStep; path?: string | RegExp }): void;
  /** The next `n` CSV downloads (inline or pre-signed) stop after `rows` rows with a reset connection. */
  breakDownloadNext(n: number, rows: number): void;
  /** The next `n` pre-signed links /file hands out have expired before they are used (403). */
  expireNextLinks(n: number): void;
  pending(): number;
  clear(): void;
}

interface Fault {
  kind: 'fail' | 'reset' | 'break' | 'expire';
  remaining: number;
  step?: FakeCohortStep;
  path?: string | RegExp;
  fail?: FakeCohortFault;
  rows?: number;
}

interface Link {
  requestId: string;
  issuedAt: number;
  expired: boolean;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const DAY_MS = 86_400_000;

export class FakeAmplitudeCohorts {
  readonly url: string;
  readonly requests: AmplitudeRecordedRequest[] = [];
  readonly cohorts = new Map<string, FakeCohortMembers>();
  readonly exports = new Map<string, FakeCohortExport>();
  readonly script: FakeCohortScript;
  apiKey!: string;
  secretKey!: string;
  wrongKeyStatus!: 401 | 403;
  pollsUntilReady!: number;
  inlineMaxMembers!: number;
  linkTtlMs!: number;
  exportTtlMs!: number;

  readonly #server: http.Server;
  readonly #options: FakeAmplitudeCohortsOptions;
  readonly #links = new Map<string, Link>();
  readonly #sockets = new Set<Socket>();
  #faults: Fault[] = [];

  constructor(server: http.Server, url: string, options: FakeAmplitudeCohortsOptions) {
    this.#server = server;
    this.url = url;
    this.#options = options;
    this.#configure();
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    this.script = {
      failNext: (n, fault) => this.#faults.push({ kind: 'fail', remaining: n, ...match(fault), fail: fault }),
      resetConnectionNext: (n, m = {}) => this.#faults.push({ kind: 'reset', remaining: n, ...match(m) }),
      breakDownloadNext: (n, rows) => this.#faults.push({ kind: 'break', remaining: n, rows }),
      expireNextLinks: (n) => this.#faults.push({ kind: 'expire', remaining: n }),
      pending: () => this.#faults.reduce((sum, f) => sum + f.remaining, 0),
      clear: () => {
        this.#faults = [];
      },
    };
  }

  /** The Basic `authorization` header value the API expects. */
  get authorization(): string {
    return `Basic ${Buffer.from(`${this.apiKey}:${this.secretKey}`).toString('base64')}`;
  }

  setCohort(id: string, members: FakeCohortMembers): void {
    this.cohorts.set(id, members);
  }

  deleteCohort(id: string): void {
    this.cohorts.delete(id);
  }

  /** Every pre-signed link handed out so far answers 403 from now on. */
  expireLinks(): void {
    for (const link of this.#links.values()) link.expired = true;
  }

  /** Every request id so far is forgotten, as after its 7 days: status and /file answer 404. */
  expireExports(): void {
    for (const exp of this.exports.values()) exp.expired = true;
  }

  requestsTo(step: FakeCohortStep): AmplitudeRecordedRequest[] {
    return this.requests.filter((r) => r.step === step);
  }

  /** Back to the state given at start: cohorts, settings, records and script. */
  reset(): void {
    this.requests.length = 0;
    this.exports.clear();
    this.#links.clear();
    this.#faults = [];
    this.#configure();
  }

  #configure(): void {
    const options = this.#options;
    this.apiKey = options.apiKey ?? 'amp-api-key';
    this.secretKey = options.secretKey ?? 'amp-secret-key';
    this.wrongKeyStatus = options.wrongKeyStatus ?? 401;
    this.pollsUntilReady = options.pollsUntilReady ?? 0;
    this.inlineMaxMembers = options.inlineMaxMembers ?? 1000;
    this.linkTtlMs = options.linkTtlMs ?? 60_000;
    this.exportTtlMs = options.exportTtlMs ?? 7 * DAY_MS;
    this.cohorts.clear();
    for (const [id, members] of Object.entries(options.cohorts ?? {})) this.cohorts.set(id, members);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const parsed = new URL(req.url ?? '/', this.url);
    const path = parsed.pathname;
    const step = stepOf(path);
    const query: Record<string, string[]> = {};
    for (const [k, v] of parsed.searchParams) (query[k] ??= []).push(v);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const record: AmplitudeRecordedRequest = {
      seq: this.requests.length,
      step,
      method: req.method ?? 'GET',
      path,
      query,
      headers,
      authorized: headers['authorization'] === this.authorization,
      status: undefined,
      receivedAt: Date.now(),
    };
    this.requests.push(record);
    // Requests have no body, but drain whatever came so the connection stays usable.
    req.resume();

    const fault = this.#take(step, path, ['fail', 'reset']);
    if (fault?.kind === 'reset') {
      record.status = 0;
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'fail' && fault.fail) {
      const f = fault.fail;
      const extra: Record<string, string> = { ...f.headers };
      if (f.retryAfter !== undefined) extra['retry-after'] = String(f.retryAfter);
      this.#json(res, record, f.status, f.body ?? { error: `scripted ${f.status}` }, extra);
      return;
    }

    if (req.method !== 'GET') {
      this.#json(res, record, 405, { error: 'method not allowed' });
      return;
    }
    if (step === 'download') {
      this.#presigned(res, record, path.slice('/presigned/'.length));
      return;
    }
    if (step === 'other') {
      this.#json(res, record, 404, { error: 'not found' });
      return;
    }
    if (!this.#checkAuth(res, record)) return;

    if (step === 'request') {
      const cohortId = decodeURIComponent(path.slice('/api/5/cohorts/request/'.length));
      const members = this.cohorts.get(cohortId);
      if (members === undefined) {
        this.#json(res, record, 404, {
          error: { http_code: 404, type: 'not_found', message: 'Cohort not found' },
        });
        return;
      }
      const props = query['props']?.[0] === '1';
      const requestId = randomUUID();
      this.exports.set(requestId, {
        requestId,
        cohortId,
        members,
        propKeys: props ? (query['propKeys'] ?? []) : [],
        polls: 0,
        pollsUntilReady: this.pollsUntilReady,
        createdAt: Date.now(),
        expired: false,
      });
      this.#json(res, record, 202, { request_id: requestId, cohort_id: cohortId });
      return;
    }

    const requestId = decodeURIComponent(path.split('/')[5] ?? '');
    const exp = this.#export(requestId);
    if (exp === undefined) {
      this.#json(res, record, 404, {
        error: { http_code: 404, type: 'not_found', message: 'Request not found' },
      });
      return;
    }
    if (step === 'status') {
      if (exp.polls < exp.pollsUntilReady) {
        exp.polls++;
        this.#json(res, record, 202, {
          request_id: requestId,
          cohort_id: exp.cohortId,
          async_status: 'JOB INPROGRESS',
        });
      } else {
        this.#json(res, record, 200, {
          request_id: requestId,
          cohort_id: exp.cohortId,
          async_status: 'JOB COMPLETED',
        });
      }
      return;
    }
    // step === 'file'
    if (exp.polls < exp.pollsUntilReady) {
      this.#json(res, record, 400, { error: 'job not completed' });
      return;
    }
    if (memberCount(exp.members) > this.inlineMaxMembers) {
      const token = randomUUID();
      const expired = this.#take('file', path, ['expire']) !== undefined;
      this.#links.set(token, { requestId, issuedAt: Date.now(), expired });
      const location = `${this.url}/presigned/${token}?X-Amz-Expires=${Math.ceil(this.linkTtlMs / 1000)}&X-Amz-Signature=fake`;
      record.status = 302;
      res.writeHead(302, { location, 'content-length': '0' });
      res.end();
      return;
    }
    await this.#csv(res, record, exp);
  }

  #presigned(res: http.ServerResponse, record: AmplitudeRecordedRequest, token: string): void {
    if (record.headers['authorization'] !== undefined) {
      this.#xml(res, record, 400, 'InvalidArgument', 'Only one auth mechanism allowed');
      return;
    }
    const link = this.#links.get(token);
    if (link === undefined) {
      this.#xml(res, record, 403, 'AccessDenied', 'Access Denied');
      return;
    }
    if (link.expired || Date.now() - link.issuedAt > this.linkTtlMs) {
      this.#xml(res, record, 403, 'AccessDenied', 'Request has expired');
      return;
    }
    const exp = this.exports.get(link.requestId);
    if (exp === undefined) {
      this.#xml(res, record, 404, 'NoSuchKey', 'The specified key does not exist.');
      return;
    }
    void this.#csv(res, record, exp);
  }

  async #csv(
    res: http.ServerResponse,
    record: AmplitudeRecordedRequest,
    exp: FakeCohortExport,
  ): Promise<void> {
    const brk = this.#take('file', record.path, ['break']) ?? undefined;
    const breakAfter = brk?.rows;
    record.status = 200;
    res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' });
    const columns = ['amplitude_id', 'user_id', ...exp.propKeys];
    let buffer = `${columns.map(quote).join(',')}\n`;
    const count = memberCount(exp.members);
    for (let i = 0; i < count; i++) {
      if (breakAfter !== undefined && i >= breakAfter) {
        res.write(buffer);
        record.status = 0;
        // Give the written rows a moment to leave before the reset.
        await new Promise((r) => setTimeout(r, 20));
        res.socket?.destroy();
        return;
      }
      const m = memberAt(exp.members, i);
      const row = [
        String(m.amplitude_id ?? 100_000 + i),
        m.user_id ?? '',
        ...exp.propKeys.map((k) => m.properties?.[k] ?? ''),
      ];
      buffer += `${row.map(quote).join(',')}\n`;
      if (buffer.length >= 64 * 1024) {
        const flushed = res.write(buffer);
        buffer = '';
        if (!flushed) {
          const ok = await drained(res);
          if (!ok) return;
        }
      }
    }
    res.end(buffer);
  }

  #checkAuth(res: http.ServerResponse, record: AmplitudeRecordedRequest): boolean {
    if (record.authorized) return true;
    const given = record.headers['authorization'];
    const status = given?.startsWith('Basic ') ? this.wrongKeyStatus : 401;
    const message = status === 403 ? 'Invalid API/Secret Key combination' : 'Invalid or missing credentials';
    this.#json(res, record, status, {
      error: { http_code: status, type: 'unspecified', metadata: { details: message } },
    });
    return false;
  }

  #export(requestId: string): FakeCohortExport | undefined {
    const exp = this.exports.get(requestId);
    if (exp === undefined || exp.expired || Date.now() - exp.createdAt > this.exportTtlMs) return undefined;
    return exp;
  }

  #take(step: FakeCohortStep, path: string, kinds: Fault['kind'][]): Fault | undefined {
    const index = this.#faults.findIndex((f) => {
      if (!kinds.includes(f.kind) || f.remaining <= 0) return false;
      // Broken downloads and expired links are not tied to a path.
      if (f.kind === 'break' || f.kind === 'expire') return true;
      if (f.step !== undefined && f.step !== step) return false;
      if (f.path !== undefined && !(typeof f.path === 'string' ? f.path === path : f.path.test(path)))
        return false;
      return true;
    });
    if (index < 0) return undefined;
    const fault = this.#faults[index] as Fault;
    fault.remaining--;
    if (fault.remaining <= 0) this.#faults.splice(index, 1);
    return fault;
  }

  #json(
    res: http.ServerResponse,
    record: AmplitudeRecordedRequest,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    record.status = status;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': JSON_TYPE, ...headers });
    res.end(text);
  }

  #xml(
    res: http.ServerResponse,
    record: AmplitudeRecordedRequest,
    status: number,
    code: string,
    message: string,
  ): void {
    record.status = status;
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
    );
  }
}

export async function startFakeAmplitudeCohorts(
  options: FakeAmplitudeCohortsOptions = {},
): Promise<FakeAmplitudeCohorts> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const fake = new FakeAmplitudeCohorts(server, `http://127.0.0.1:${port}`, options);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    fake.handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': JSON_TYPE });
        res.end(JSON.stringify({ error: `fake crashed: ${String(err)}` }));
      } else {
        res.destroy();
      }
    });
  });
  return fake;
}

// ---- helpers -------------------------------------------------------------------------------------------

function stepOf(path: string): FakeCohortStep {
  if (/^\/api\/5\/cohorts\/request\/[^/]+\/file$/.test(path)) return 'file';
  if (/^\/api\/5\/cohorts\/request\/[^/]+$/.test(path)) return 'request';
  if (/^\/api\/5\/cohorts\/request-status\/[^/]+$/.test(path)) return 'status';
  if (/^\/presigned\/[^/]+$/.test(path)) return 'download';
  return 'other';
}

function match(m: { step?: FakeCohortStep; path?: string | RegExp }): Pick<Fault, 'step' | 'path'> {
  return { ...(m.step !== undefined && { step: m.step }), ...(m.path !== undefined && { path: m.path }) };
}

export function memberCount(members: FakeCohortMembers): number {
  return 'count' in members && !Array.isArray(members)
    ? members.count
    : (members as readonly unknown[]).length;
}

function memberAt(members: FakeCohortMembers, index: number): FakeCohortMember {
  const m = Array.isArray(members)
    ? (members as ReadonlyArray<string | FakeCohortMember>)[index]
    : (members as { member: (i: number) => string | FakeCohortMember }).member(index);
  return typeof m === 'string' ? { user_id: m } : (m ?? {});
}

function quote(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

function drained(res: http.ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/**
 * An Amplitude behavioral cohort, read through the Behavioral Cohorts API's export:
 *
 *   1. `GET /api/5/cohorts/request/{cohortId}`          → 202 `{ request_id }`
 *   2. `GET /api/5/cohorts/request-status/{request_id}`  → 202 `JOB INPROGRESS` … 200 `JOB COMPLETED`
 *   3. `GET /api/5/cohorts/request/{request_id}/file`    → 200 with the CSV, or (large cohorts) 302 to a
 *      pre-signed S3 URL that is valid for one minute; the /file link itself stays valid for 7 days and
 *      hands out a fresh S3 link on each call.
 *
 * All three take HTTP Basic auth with the project's API key and secret key. The pre-signed URL is
 * fetched WITHOUT it: the URL carries its own signature, and the keys must not reach a third host.
 * The CSV has a header; the id is read from the `idProperty` column (`user_id` by default, as
 * Amplitude's own SDKs do), and members without one (anonymous users) are skipped.
 *
 * Polling is kept alive through transient failures (429, 5xx, network) because the export job keeps
 * running server-side and a new request would spend one of the project's 60 cohort requests per
 * 10 minutes; other steps fail with a classified error and leave retrying to the caller.
 */
import type { Agent } from 'undici';

import type { AmplitudeCohortSource } from '../config/cohort-source.ts';
import { CohortSourceError, snippet } from './errors.ts';
import {
  createAgent,
  header,
  httpGet,
  httpGetFollowing,
  isRedirect,
  readSnippet,
  release,
  statusError,
} from './http.ts';
import type { ResponseData } from './http.ts';
import { parseMembers } from './parse.ts';
import { newStats, ReadContext } from './read.ts';
import type { CohortReadOptions, CohortSource } from './source.ts';

export const AMPLITUDE_HOSTS = {
  us: 'https://amplitude.com',
  eu: 'https://analytics.eu.amplitude.com',
} as const;

/** Columns of the export itself; any other `idProperty` is a user property to ask for. */
const EXPORT_COLUMNS = new Set(['user_id', 'amplitude_id']);

export interface AmplitudeSourceOptions {
  /** Per HTTP request: connect, headers, and the longest pause between body chunks. Default 60 s. */
  requestTimeoutMs?: number;
  /** Pre-signed links tried (each a fresh one from /file) before giving up. Default 3. */
  maxLinkAttempts?: number;
  /** Exports requested in one read when the previous one expired before it could be downloaded. Default 2. */
  maxExports?: number;
  /** Consecutive transient failures tolerated while polling. Default 5. */
  maxPollFailures?: number;
}

export interface ResolvedAmplitudeSource {
  config: AmplitudeCohortSource;
  apiKey: string;
  secretKey: string;
}

type DownloadResult = 'done' | 'export_gone';

export function amplitudeCohortSource(
  { config, apiKey, secretKey }: ResolvedAmplitudeSource,
  options: AmplitudeSourceOptions = {},
): CohortSource {
  const base = (config.url ?? AMPLITUDE_HOSTS[config.region]).replace(/\/+$/, '');
  const authorization = `Basic ${Buffer.from(`${apiKey}:${secretKey}`).toString('base64')}`;
  const requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
  const maxExports = options.maxExports ?? 2;
  const what = `amplitude cohort ${config.cohortId}`;
  const where = config.url !== undefined ? new URL(base).host : config.region;
  const stats = newStats();

  return {
    description: `${what} (${where}, column ${config.idProperty})`,
    stats,
    async *members(readOptions: CohortReadOptions = {}) {
      const ctx = new ReadContext(stats, readOptions);
      const agent = createAgent(requestTimeoutMs);
      const deadline = Date.now() + config.timeout;
      const read: ExportRead = {
        config,
        base,
        what,
        maxLinkAttempts: options.maxLinkAttempts ?? 3,
        maxPollFailures: options.maxPollFailures ?? 5,
        agent,
        ctx,
        api: (path: string) =>
          httpGet(`${base}${path}`, { dispatcher: agent, headers: { authorization }, signal: ctx.signal }),
      };
      try {
        for (let exportNo = 1; exportNo <= maxExports; exportNo++) {
          const requestId = await requestExport(read);
          await waitForExport(read, requestId, deadline);
          const result = yield* download(read, requestId);
          if (result === 'done') return;
        }
        throw new CohortSourceError(
          'export_expired',
          `${what}: the export expired before it could be downloaded (${maxExports} exports requested)`,
        );
      } catch (err) {
        throw ctx.classify(err, what);
      } finally {
        await agent.destroy();
      }
    },
  };
}

/** One read of the cohort: its config and limits, and the API call that carries the keys. */
interface ExportRead {
  config: AmplitudeCohortSource;
  /** The API's origin, without a trailing slash. */
  base: string;
  /** Names the cohort in error messages. */
  what: string;
  maxLinkAttempts: number;
  maxPollFailures: number;
  /** A GET of the export API, with the project's keys. */
  api(path: string): Promise<ResponseData>;
  agent: Agent;
  ctx: ReadContext;
}

/** Step 1: asks Amplitude for an export of the cohort; its request id. */
async function requestExport({ config, what, api, ctx }: ExportRead): Promise<string> {
  ctx.throwIfAborted();
  const cohort = encodeURIComponent(config.cohortId);
  const query = EXPORT_COLUMNS.has(config.idProperty)
    ? ''
    : `?props=1&propKeys=${encodeURIComponent(config.idProperty)}`;
  const answer = await api(`/api/5/cohorts/request/${cohort}${query}`);
  if (answer.statusCode !== 202 && answer.statusCode !== 200) {
    throw await statusError(answer, `${what}: export request`);
  }
  const text = await readSnippet(answer, 64 * 1024);
  const requestId = jsonField(text, 'request_id');
  if (requestId === undefined) {
    throw new CohortSourceError(
      'http',
      `${what}: export request answered ${answer.statusCode} without a request_id: ${snippet(text)}`,
      { status: answer.statusCode },
    );
  }
  ctx.progress({ phase: 'requested', requestId });
  return requestId;
}

/** Step 2: polls the export job until it has completed (or failed, or the deadline passes). */
async function waitForExport(
  { config, what, maxPollFailures, api, ctx }: ExportRead,
  requestId: string,
  deadline: number,
): Promise<void> {
  const path = `/api/5/cohorts/request-status/${encodeURIComponent(requestId)}`;
  let polls = 0;
  let failures = 0;
  for (;;) {
    ctx.throwIfAborted();
    let delay = config.pollInterval;
    let ended: string | undefined;
    try {
      const answer = await api(path);
      polls++;
      if (answer.statusCode === 200) {
        const status = jsonField(await readSnippet(answer, 64 * 1024), 'async_status');
        if (status === undefined || /COMPLETE/i.test(status)) return;
        if (/FAIL|ERROR|CANCEL/i.test(status)) ended = status;
      } else if (answer.statusCode === 202) {
        await readSnippet(answer, 64 * 1024);
      } else {
        throw await statusError(answer, `${what}: export status`);
      }
      failures = 0;
    } catch (err) {
      const error = ctx.classify(err, `${what}: export status`);
      if (!(error instanceof CohortSourceError) || !error.retryable || ++failures > maxPollFailures)
        throw error;
      delay = Math.max(delay, error.retryAfterMs ?? 0);
    }
    if (ended !== undefined) {
      // The job itself failed: polling it again cannot help, a new export (the next attempt) may.
      throw new CohortSourceError('server', `${what}: export ${requestId} ended with "${ended}"`, {
        status: 200,
      });
    }
    ctx.progress({ phase: 'polling', requestId, polls });
    if (Date.now() + delay > deadline) {
      throw new CohortSourceError(
        'timeout',
        `${what}: export ${requestId} not ready after ${Math.round(config.timeout / 1000)} s (${polls} polls)`,
      );
    }
    await ctx.wait(delay);
  }
}

/** Step 3: downloads and parses the export, through a fresh pre-signed link when one expires. */
async function* download(
  { config, base, what, maxLinkAttempts, api, agent, ctx }: ExportRead,
  requestId: string,
): AsyncGenerator<string[], DownloadResult> {
  const path = `/api/5/cohorts/request/${encodeURIComponent(requestId)}/file`;
  for (let link = 1; link <= maxLinkAttempts; link++) {
    ctx.throwIfAborted();
    let answer = await api(path);
    if (answer.statusCode === 404 || answer.statusCode === 410) {
      // The request id outlived its 7 days (or Amplitude forgot it): ask for a new export.
      await readSnippet(answer);
      return 'export_gone';
    }
    if (isRedirect(answer.statusCode)) {
      const location = header(answer.headers, 'location');
      release(answer);
      if (location === undefined) {
        throw new CohortSourceError(
          'http',
          `${what}: /file answered ${answer.statusCode} without a Location`,
          {
            status: answer.statusCode,
          },
        );
      }
      // No Authorization here: the pre-signed URL authenticates itself.
      answer = await httpGetFollowing(
        new URL(location, `${base}${path}`).href,
        { dispatcher: agent, headers: {}, signal: ctx.signal },
        `${what}: pre-signed download`,
      );
      if (answer.statusCode === 403 || answer.statusCode === 404 || answer.statusCode === 410) {
        // S3 answers 403 once the one-minute signature has expired: /file hands out a fresh link.
        await readSnippet(answer);
        continue;
      }
      if (answer.statusCode < 200 || answer.statusCode > 299) {
        throw await statusError(answer, `${what}: pre-signed download`);
      }
    } else if (answer.statusCode < 200 || answer.statusCode > 299) {
      throw await statusError(answer, `${what}: download`);
    }
    ctx.progress({ phase: 'downloading', requestId, ids: 0, bytes: 0 });
    try {
      yield* ctx.reportChunks(
        parseMembers(answer.body, {
          format: 'csv',
          columns: [config.idProperty],
          chunkSize: ctx.chunkSize,
          what: `${what} export`,
          stats: ctx.stats,
        }),
        requestId,
      );
    } finally {
      release(answer);
    }
    return 'done';
  }
  throw new CohortSourceError(
    'export_expired',
    `${what}: the pre-signed download link expired ${maxLinkAttempts} times in a row`,
  );
}

function jsonField(text: string, field: string): string | undefined {
  try {
    const body: unknown = JSON.parse(text);
    if (body !== null && typeof body === 'object') {
      const value = (body as Record<string, unknown>)[field];
      if (typeof value === 'string' && value !== '') return value;
      if (typeof value === 'number') return String(value);
    }
  } catch {
    /* not JSON: the caller reports the text */
  }
  return undefined;
}

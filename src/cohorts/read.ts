/**
 * What one `members()` iteration carries around, shared by every source: its counters, the
 * caller's progress callback and abort signal, and the mapping of low-level failures (sockets,
 * timeouts, file system) to classified CohortSourceErrors.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { CohortSourceError } from './errors.ts';
import { checkChunkSize } from './source.ts';
import type { CohortProgress, CohortReadOptions, CohortReadStats } from './source.ts';

export class ReadContext {
  readonly stats: CohortReadStats;
  readonly chunkSize: number;
  readonly signal: AbortSignal | undefined;
  readonly #onProgress: ((progress: CohortProgress) => void) | undefined;
  readonly #started = Date.now();

  constructor(stats: CohortReadStats, options: CohortReadOptions = {}) {
    this.chunkSize = checkChunkSize(options.chunkSize);
    this.signal = options.signal;
    this.#onProgress = options.onProgress;
    this.stats = stats;
    stats.ids = 0;
    stats.skippedEmpty = 0;
    stats.bytes = 0;
  }

  get elapsedMs(): number {
    return Date.now() - this.#started;
  }

  progress(progress: Omit<CohortProgress, 'elapsedMs'>): void {
    // A failing callback (a heartbeat after cancellation, say) must not look like a source error.
    try {
      this.#onProgress?.({ ...progress, elapsedMs: this.elapsedMs });
    } catch {
      /* the caller's problem, reported through its own channel */
    }
  }

  throwIfAborted(): void {
    if (this.signal?.aborted) throw abortedError(this.signal);
  }

  /** Waits `ms`, or fails at once with `aborted` when the signal fires. */
  async wait(ms: number): Promise<void> {
    this.throwIfAborted();
    try {
      await sleep(ms, undefined, this.signal ? { signal: this.signal } : undefined);
    } catch (err) {
      if (this.signal?.aborted) throw abortedError(this.signal);
      throw err;
    }
  }

  /** Passes chunks through, reporting `downloading` progress and stopping promptly on abort. */
  async *reportChunks(chunks: AsyncIterable<string[]>, requestId?: string): AsyncGenerator<string[]> {
    for await (const chunk of chunks) {
      this.throwIfAborted();
      this.progress({
        phase: 'downloading',
        ids: this.stats.ids,
        bytes: this.stats.bytes,
        ...(requestId !== undefined && { requestId }),
      });
      yield chunk;
    }
  }

  /**
   * A failure as a CohortSourceError: already classified ones pass through, transport and file-system
   * failures are classified by code. A programming error (TypeError, …) stays itself so it is not
   * mistaken for a flaky network.
   */
  classify(err: unknown, what: string): Error {
    if (err instanceof CohortSourceError) return err;
    if (this.signal?.aborted) return abortedError(this.signal, err);
    if (isBug(err)) return err;
    return classifyLowLevelError(err, what);
  }
}

export function newStats(): CohortReadStats {
  return { ids: 0, skippedEmpty: 0, bytes: 0 };
}

function abortedError(signal: AbortSignal, cause: unknown = signal.reason): CohortSourceError {
  return new CohortSourceError('aborted', 'reading the cohort was aborted', { cause });
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
]);
const NETWORK_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

function isBug(err: unknown): err is Error {
  return (
    (err instanceof TypeError ||
      err instanceof RangeError ||
      err instanceof ReferenceError ||
      err instanceof SyntaxError) &&
    errorCode(err) === undefined
  );
}

/** Transport and file-system failures by their error code; anything else counts as a network failure. */
export function classifyLowLevelError(err: unknown, what: string): CohortSourceError {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return new CohortSourceError('timeout', `${what}: timed out (${code}: ${message})`, { cause: err });
  }
  if (code !== undefined && NETWORK_CODES.has(code)) {
    return new CohortSourceError('network', `${what}: network error (${code}: ${message})`, { cause: err });
  }
  if (code === 'ENOENT') return new CohortSourceError('not_found', `${what}: no such file`, { cause: err });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EISDIR') {
    return new CohortSourceError('config', `${what}: cannot be read (${code})`, { cause: err });
  }
  if (code !== undefined && /^E[A-Z]+$/.test(code)) {
    return new CohortSourceError('io', `${what}: ${code}: ${message}`, { cause: err });
  }
  return new CohortSourceError('network', `${what}: ${message}`, { cause: err });
}

function errorCode(err: unknown): string | undefined {
  // undici wraps socket errors; the code that says what happened may be on the cause.
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR') return code;
  }
  return undefined;
}

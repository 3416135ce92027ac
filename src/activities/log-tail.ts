import type { LoggedRecord } from '../events/record.ts';
import type { Store } from '../store/store.ts';

/** Records kept per source: a few seconds of full load, a few megabytes. */
const DEFAULT_CAPACITY = 20_000;
/** How many new records one refresh reads for every waiting reader. */
const REFRESH_PAGE = 5_000;
/**
 * A source nobody has read for this long gives its records back: a busy source's window is tens
 * of megabytes of parsed records, which a worker kept for good once the load moved elsewhere.
 */
const IDLE_TAIL_MS = 60_000;
/**
 * How recent a window counts as current for a read that reaches its end (ms): readers a moment
 * apart (a hundred lanes woken by one record) share one store read instead of one each.
 */
const FRESH_MS = 2;

interface SourceTail {
  /** The newest records of the source, in seq order, without gaps. */
  records: LoggedRecord[];
  /** The read in progress, which every reader that needs newer records waits for. */
  refreshing?: Promise<void>;
  /** Readers waiting for a record of their own (a lane: its people, or a barrier). */
  waiters: Set<Waiter>;
  /** Set while one loop watches the store for the waiters. */
  watching?: boolean;
  /** When a reader last asked (ms). */
  usedAt: number;
  /** When the last read of the store for this window began (ms). */
  refreshedAt: number;
}

export interface LogTailOptions {
  /** Records kept per source. */
  capacity?: number;
  /** A source unread for this long gives its records back (ms). */
  idleMs?: number;
  /** A window read this recently counts as current for a read that reaches its end (ms). */
  freshMs?: number;
}

interface Waiter {
  afterSeq: number;
  wants(record: LoggedRecord): boolean;
  settle(found: boolean): void;
}

/**
 * The newest records of each source, read from the store once per worker and shared by every lane
 * of every sync that reads the source. Each lane reads every record (it passes over other lanes'),
 * and several syncs may read one source: without this, each of them would read and parse each
 * record again. Safe to cache because a log only grows at its head and a logged record never
 * changes. Readers behind the cached window (a replay, a lane far behind) read the store directly.
 */
export class LogTail {
  readonly #store: Store;
  readonly #capacity: number;
  readonly #idleMs: number;
  readonly #freshMs: number;
  readonly #sources = new Map<string, SourceTail>();
  #sweptAt = Date.now();

  constructor(
    store: Store,
    { capacity = DEFAULT_CAPACITY, idleMs = IDLE_TAIL_MS, freshMs = FRESH_MS }: LogTailOptions = {},
  ) {
    this.#store = store;
    this.#capacity = capacity;
    this.#idleMs = idleMs;
    this.#freshMs = freshMs;
  }

  /** Up to `limit` records of the source with `seq > afterSeq`, in seq order (Store.readAfter). */
  async readAfter(sourceId: string, afterSeq: number, limit: number): Promise<LoggedRecord[]> {
    const tail = this.#tail(sourceId);
    if (tail.records.length === 0) {
      tail.refreshedAt = Date.now();
      const read = await this.#store.readAfter(sourceId, afterSeq, Math.max(limit, REFRESH_PAGE));
      if (tail.records.length === 0) this.#append(tail, read);
      return read.slice(0, limit);
    }
    const first = tail.records[0]!.seq;
    // Behind the window: the cache cannot say what lies between afterSeq and its first record.
    if (afterSeq < first - 1) return this.#store.readAfter(sourceId, afterSeq, limit);
    let from = indexAfter(tail.records, afterSeq);
    // A read that reaches the window's end asks the store for newer records first, unless the window
    // was read a moment ago: a lane back from a request must find what arrived while it was away.
    const toEnd = from + limit > tail.records.length;
    if (from === tail.records.length || (toEnd && Date.now() - tail.refreshedAt >= this.#freshMs)) {
      await this.#refresh(sourceId, tail);
      from = indexAfter(tail.records, afterSeq);
    }
    return tail.records.slice(from, from + limit);
  }

  /**
   * Resolves true once the source has a record after `afterSeq` that `wants` accepts, false after
   * `timeoutMs` or on `signal`. A lane waits here for its own records: with many lanes and syncs on
   * one source, only the lane a new record belongs to wakes, not every one of them.
   */
  waitFor(
    sourceId: string,
    afterSeq: number,
    wants: (record: LoggedRecord) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const tail = this.#tail(sourceId);
    const first = tail.records[0]?.seq;
    // Nothing cached yet: the store says when the log first grows.
    if (first === undefined) return this.#store.waitForRecords(sourceId, afterSeq, timeoutMs, signal);
    // Behind the window: the record at its start is newer than afterSeq, so there is one to read.
    if (afterSeq < first - 1) return Promise.resolve(true);
    for (let i = indexAfter(tail.records, afterSeq); i < tail.records.length; i++)
      if (wants(tail.records[i]!)) return Promise.resolve(true);
    if (signal?.aborted || !(timeoutMs > 0)) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        afterSeq,
        wants,
        settle: (found) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          tail.waiters.delete(waiter);
          resolve(found);
        },
      };
      const timer = setTimeout(() => waiter.settle(false), timeoutMs);
      const onAbort = (): void => waiter.settle(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      tail.waiters.add(waiter);
      this.#watch(sourceId, tail);
    });
  }

  /** While anyone waits on the source: wait for the store's log to grow, read it once, hand out. */
  #watch(sourceId: string, tail: SourceTail): void {
    if (tail.watching) return;
    tail.watching = true;
    void (async () => {
      try {
        while (tail.waiters.size > 0) {
          const head = tail.records.at(-1)?.seq ?? 0;
          if (!(await this.#store.waitForRecords(sourceId, head, 1_000))) continue;
          await this.#refresh(sourceId, tail);
          const fresh = tail.records.slice(indexAfter(tail.records, head));
          for (const waiter of [...tail.waiters]) {
            if (fresh.some((r) => r.seq > waiter.afterSeq && waiter.wants(r))) waiter.settle(true);
          }
        }
      } catch {
        // The store failed: wake everyone, so each finds out by reading.
        for (const waiter of [...tail.waiters]) waiter.settle(true);
      } finally {
        tail.watching = false;
      }
    })();
  }

  #tail(sourceId: string): SourceTail {
    const now = Date.now();
    if (now - this.#sweptAt >= this.#idleMs) this.#dropIdle(now);
    let tail = this.#sources.get(sourceId);
    if (!tail) {
      tail = { records: [], waiters: new Set(), usedAt: now, refreshedAt: 0 };
      this.#sources.set(sourceId, tail);
    }
    tail.usedAt = now;
    return tail;
  }

  /** Forgets the sources nobody has read or waited on for `idleMs`; a reader that comes back reads the store. */
  #dropIdle(now: number): void {
    this.#sweptAt = now;
    for (const [sourceId, tail] of this.#sources) {
      const busy = tail.waiters.size > 0 || tail.watching || tail.refreshing;
      if (!busy && now - tail.usedAt >= this.#idleMs) this.#sources.delete(sourceId);
    }
  }

  async #refresh(sourceId: string, tail: SourceTail): Promise<void> {
    tail.refreshing ??= (async () => {
      tail.refreshedAt = Date.now();
      try {
        const head = tail.records.at(-1)?.seq ?? 0;
        this.#append(tail, await this.#store.readAfter(sourceId, head, REFRESH_PAGE));
      } finally {
        tail.refreshing = undefined;
      }
    })();
    await tail.refreshing;
  }

  #append(tail: SourceTail, records: readonly LoggedRecord[]): void {
    const head = tail.records.at(-1)?.seq ?? -1;
    for (const record of records) if (record.seq > head) tail.records.push(record);
    if (tail.records.length > this.#capacity) tail.records.splice(0, tail.records.length - this.#capacity);
  }
}

/** The index of the first record with `seq > afterSeq` (records sorted by seq). */
function indexAfter(records: readonly LoggedRecord[], afterSeq: number): number {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (records[mid]!.seq <= afterSeq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

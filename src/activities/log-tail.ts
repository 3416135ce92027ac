import type { LoggedRecord } from '../events/record.ts';
import type { Store } from '../store/store.ts';

/** Records kept per source: a few seconds of full load, a few megabytes. */
const DEFAULT_CAPACITY = 20_000;
/** How many new records one refresh reads for every waiting reader. */
const REFRESH_PAGE = 5_000;

interface SourceTail {
  /** The newest records of the source, in seq order, without gaps. */
  records: LoggedRecord[];
  /** The read in progress, which every reader that needs newer records waits for. */
  refreshing?: Promise<void>;
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
  readonly #sources = new Map<string, SourceTail>();

  constructor(store: Store, capacity = DEFAULT_CAPACITY) {
    this.#store = store;
    this.#capacity = capacity;
  }

  /** Up to `limit` records of the source with `seq > afterSeq`, in seq order (Store.readAfter). */
  async readAfter(sourceId: string, afterSeq: number, limit: number): Promise<LoggedRecord[]> {
    const tail = this.#tail(sourceId);
    if (tail.records.length === 0) {
      const read = await this.#store.readAfter(sourceId, afterSeq, Math.max(limit, REFRESH_PAGE));
      if (tail.records.length === 0) this.#append(tail, read);
      return read.slice(0, limit);
    }
    const first = tail.records[0]!.seq;
    // Behind the window: the cache cannot say what lies between afterSeq and its first record.
    if (afterSeq < first - 1) return this.#store.readAfter(sourceId, afterSeq, limit);
    let from = indexAfter(tail.records, afterSeq);
    if (from === tail.records.length) {
      await this.#refresh(sourceId, tail);
      from = indexAfter(tail.records, afterSeq);
    }
    return tail.records.slice(from, from + limit);
  }

  #tail(sourceId: string): SourceTail {
    let tail = this.#sources.get(sourceId);
    if (!tail) {
      tail = { records: [] };
      this.#sources.set(sourceId, tail);
    }
    return tail;
  }

  async #refresh(sourceId: string, tail: SourceTail): Promise<void> {
    tail.refreshing ??= (async () => {
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

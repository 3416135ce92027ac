import type { CanonicalRecord } from '../events/record.ts';
import type { Store } from '../store/store.ts';

/**
 * Group commit: the requests that arrive while a source's append is being committed go into its
 * next append together, one transaction for all of them. A durable commit (an fsync) takes
 * milliseconds whatever it holds, so one event per request (webhooks, the SDKs' small flushes)
 * would otherwise cap a source at a few hundred requests a second. Nothing waits on a timer: a
 * request that finds the source idle commits in the same turn of the event loop, with whatever
 * else that turn read. Every request is still answered only
 * after the transaction holding its records has committed, and a failed transaction fails every
 * request in it (each is answered 503 and retried by its client; none of them was stored).
 */

export interface Committed {
  appended: number;
  duplicates: number;
}

interface Pending {
  records: CanonicalRecord[];
  resolve(result: Committed): void;
  reject(error: unknown): void;
}

interface SourceQueue {
  dedupe: Pending[];
  plain: Pending[];
  committing: boolean;
}

/** Per request: how many of its records were appended, from the skipped indexes of the whole group. */
function splitResults(group: readonly Pending[], skipped: readonly number[]): Committed[] {
  const results: Committed[] = [];
  let start = 0;
  let at = 0;
  for (const pending of group) {
    const end = start + pending.records.length;
    let duplicates = 0;
    while (at < skipped.length && skipped[at]! < end) {
      duplicates++;
      at++;
    }
    results.push({ appended: pending.records.length - duplicates, duplicates });
    start = end;
  }
  return results;
}

export class GroupCommit {
  readonly #store: Store;
  readonly #queues = new Map<string, SourceQueue>();
  /** Records one transaction takes at most: a group of large batches is split. */
  readonly #maxRecords: number;

  constructor(store: Store, maxRecords = 5000) {
    this.#store = store;
    this.#maxRecords = maxRecords;
  }

  /** Appends `records` to the source's log with the requests committing beside them. */
  append(sourceId: string, records: CanonicalRecord[], dedupe: boolean): Promise<Committed> {
    if (records.length === 0) return Promise.resolve({ appended: 0, duplicates: 0 });
    const queue = this.#queueOf(sourceId);
    const done = new Promise<Committed>((resolve, reject) => {
      (dedupe ? queue.dedupe : queue.plain).push({ records, resolve, reject });
    });
    if (!queue.committing) {
      queue.committing = true;
      void this.#drain(sourceId, queue);
    }
    return done;
  }

  #queueOf(sourceId: string): SourceQueue {
    let queue = this.#queues.get(sourceId);
    if (!queue) {
      queue = { dedupe: [], plain: [], committing: false };
      this.#queues.set(sourceId, queue);
    }
    return queue;
  }

  /** Commits groups until the source's queue is empty; one transaction at a time per source. */
  async #drain(sourceId: string, queue: SourceQueue): Promise<void> {
    try {
      for (;;) {
        // The SQLite store commits synchronously, blocking the event loop: without this turn, each
        // request read in one pass of the loop would commit alone before the next is even parsed.
        // After it, every request read in this pass is in the group.
        await new Promise((resolve) => setImmediate(resolve));
        const dedupe = queue.dedupe.length > 0;
        const group = this.#take(dedupe ? queue.dedupe : queue.plain);
        if (group.length === 0) break;
        await this.#commit(sourceId, group, dedupe);
      }
    } finally {
      queue.committing = false;
      if (queue.dedupe.length === 0 && queue.plain.length === 0) this.#queues.delete(sourceId);
    }
  }

  /** The waiting requests, oldest first, up to #maxRecords (always at least one request). */
  #take(waiting: Pending[]): Pending[] {
    let records = 0;
    let count = 0;
    while (
      count < waiting.length &&
      (count === 0 || records + waiting[count]!.records.length <= this.#maxRecords)
    ) {
      records += waiting[count]!.records.length;
      count++;
    }
    return waiting.splice(0, count);
  }

  async #commit(sourceId: string, group: Pending[], dedupe: boolean): Promise<void> {
    const records = group.length === 1 ? group[0]!.records : group.flatMap((pending) => pending.records);
    try {
      if (dedupe) {
        const { skipped } = await this.#store.appendNew(sourceId, records);
        splitResults(group, skipped).forEach((result, i) => group[i]!.resolve(result));
      } else {
        await this.#store.append(sourceId, records);
        for (const pending of group) pending.resolve({ appended: pending.records.length, duplicates: 0 });
      }
    } catch (error) {
      for (const pending of group) pending.reject(error);
    }
  }
}

import { IngestError } from './errors.ts';

/**
 * A cap on how many request bodies are decoded and parsed at once. Inflating and parsing is where
 * a request costs memory and CPU; with the cap, a burst of hostile bodies queues behind a few slots
 * instead of inflating side by side, and the process's peak memory stays bounded whatever arrives.
 * A request that waits longer than `waitMs` for a slot is answered 503, which every client retries.
 */
/** Raw bytes below which an uncompressed body needs no slot. */
export const CHEAP_BODY_BYTES = 64 * 1024;

function isCheap(body: unknown, encoding: string | undefined): boolean {
  const identity = encoding === undefined || ['', 'identity'].includes(encoding.trim().toLowerCase());
  return identity && Buffer.isBuffer(body) && body.length <= CHEAP_BODY_BYTES;
}

export class DecodeSlots {
  readonly #max: number;
  readonly #waitMs: number;
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(max: number, waitMs: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new Error(`ingest: concurrent decodes must be at least 1, got ${max}`);
    this.#max = max;
    this.#waitMs = waitMs;
  }

  get active(): number {
    return this.#active;
  }

  /**
   * Runs `work` in a slot, waiting for one if all are taken. A body that is small and not
   * compressed is already in memory and parses in microseconds: it skips the queue, so SDK traffic
   * does not wait behind bodies that have to be inflated.
   */
  async run<T>(
    work: () => Promise<T>,
    request?: { body: unknown; encoding: string | undefined },
  ): Promise<T> {
    if (request && isCheap(request.body, request.encoding)) return work();
    await this.#acquire();
    try {
      return await work();
    } finally {
      this.#release();
    }
  }

  #acquire(): Promise<void> {
    if (this.#active < this.#max) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer);
        this.#active++;
        resolve();
      };
      const timer = setTimeout(() => {
        const at = this.#waiting.indexOf(grant);
        if (at !== -1) this.#waiting.splice(at, 1);
        reject(
          new IngestError('overloaded', `busy: no request body could be decoded within ${this.#waitMs} ms`),
        );
      }, this.#waitMs);
      this.#waiting.push(grant);
    });
  }

  #release(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }
}

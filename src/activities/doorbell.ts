import type { LoggedRecord } from '../events/record.ts';
import type { LogTail } from './log-tail.ts';

/** Wakes a sleeping sync's workflow (a signal; a workflow that is gone is nothing to wake). */
export type RingWorkflow = (workflowId: string) => Promise<void>;

export interface ArmDoorbell {
  workflowId: string;
  sourceId: string;
  /** Rings for the first record after this seq that `wants` accepts. */
  afterSeq: number;
  wants(record: LoggedRecord): boolean;
  /** How long it stays armed; the workflow's own timer (a little shorter) covers what it misses. */
  forMs: number;
}

/**
 * Lets a quiet sync hold no activity slot. A lane (or a sync's waiter) that found nothing for its
 * linger arms the doorbell and returns; its workflow then sleeps without an activity until the
 * doorbell rings — a signal sent once a record of its own reaches the log — or its fallback timer
 * fires. The watch is the worker's shared log tail, so a hundred quiet syncs of one source cost one
 * store watch, not a hundred long-polls. In memory: a worker that stops takes its doorbells with
 * it, and its sleeping syncs wake on their timers.
 */
export class Doorbell {
  readonly #logTail: LogTail;
  readonly #ring: RingWorkflow;
  readonly #stopped: AbortSignal | undefined;
  /** The armed doorbell of each workflow: arming again (or a lane starting) replaces it. */
  readonly #armed = new Map<string, AbortController>();

  constructor(logTail: LogTail, ring: RingWorkflow, stopped?: AbortSignal) {
    this.#logTail = logTail;
    this.#ring = ring;
    this.#stopped = stopped;
  }

  arm({ workflowId, sourceId, afterSeq, wants, forMs }: ArmDoorbell): void {
    this.disarm(workflowId);
    const armed = new AbortController();
    this.#armed.set(workflowId, armed);
    const signal = this.#stopped ? AbortSignal.any([armed.signal, this.#stopped]) : armed.signal;
    void this.#logTail.waitFor(sourceId, afterSeq, wants, forMs, signal).then(async (found) => {
      if (this.#armed.get(workflowId) === armed) this.#armed.delete(workflowId);
      if (!found || signal.aborted) return;
      // A workflow that ended or moved on ignores the ring (or is not there to hear it).
      await this.#ring(workflowId).catch(() => {});
    });
  }

  /** The workflow is awake (one of its activities runs): nothing to ring for. */
  disarm(workflowId: string): void {
    this.#armed.get(workflowId)?.abort();
    this.#armed.delete(workflowId);
  }

  /** How many doorbells are armed (for tests and metrics). */
  get size(): number {
    return this.#armed.size;
  }
}

import type { CanonicalRecord } from '../../events/record.ts';

/** A record that could not be delivered, kept with the reason so it can be inspected and redriven. */
export interface DeadLetter {
  id: number;
  syncId: string;
  seq: number;
  record: CanonicalRecord;
  reason: string;
  detail?: string;
  createdAt: number;
  redrivenAt?: number;
}

export interface NewDeadLetter {
  syncId: string;
  seq: number;
  record: CanonicalRecord;
  reason: string;
  detail?: string;
}

export interface DeadLetterStore {
  /**
   * Stores dead letters. One open (not yet redriven) letter per record, reason and detail: a letter
   * that is already open is not written again, so a repeated write stores nothing twice.
   */
  addDeadLetters(letters: NewDeadLetter[]): Promise<void>;
  /** A sync's dead letters, oldest first; redriven ones only with `includeRedriven`. */
  listDeadLetters(
    syncId: string,
    opts?: { includeRedriven?: boolean; limit?: number },
  ): Promise<DeadLetter[]>;
  /** How many dead letters of a sync have not been redriven yet. */
  countDeadLetters(syncId: string): Promise<number>;
  /** Marks letters as redriven; a letter already marked keeps its first `redrivenAt`. */
  markRedriven(ids: number[]): Promise<void>;
}

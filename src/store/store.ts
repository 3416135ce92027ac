import type { BackfillStore } from './backfills/store.ts';
import type { CaptureStore } from './captures/store.ts';
import type { CohortStore } from './cohorts/store.ts';
import type { DeadLetterStore } from './dead-letters/store.ts';
import type { LogStore } from './log/store.ts';
import type { ProgressStore } from './progress/store.ts';
import type { RateLimitStore } from './rate-limit/store.ts';
import type { StateStore } from './state/store.ts';
import type { UserStore } from './users/store.ts';

export type { BackfillHour, BackfillHourDone } from './backfills/store.ts';
export type { CapturedRequest, NewCapturedRequest } from './captures/store.ts';
export type { DeadLetter, NewDeadLetter } from './dead-letters/store.ts';
export type { AppendedNew } from './log/store.ts';
export type { DeliverySettlement, LaneCursors } from './progress/store.ts';
export type { PersonChange, UserSnapshot } from './users/store.ts';

/**
 * Everything the engine persists outside Temporal, one interface per concern, each concern a folder
 * here with its SQLite and PostgreSQL implementations side by side (sqlite.ts and postgres.ts
 * compose them), held to one test suite (test/store/): every method is async so callers never
 * depend on a backend being in-process.
 */
export interface Store
  extends
    LogStore,
    ProgressStore,
    DeadLetterStore,
    CaptureStore,
    RateLimitStore,
    StateStore,
    UserStore,
    BackfillStore {
  /** Cohort membership snapshots and their diffs (cohort syncs). */
  readonly cohorts: CohortStore;

  close(): Promise<void>;
}

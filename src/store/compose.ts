import type { BackfillStore } from './backfills/store.ts';
import type { CaptureStore } from './captures/store.ts';
import type { CohortStore } from './cohorts/store.ts';
import type { DeadLetterStore } from './dead-letters/store.ts';
import type { LogStore } from './log/store.ts';
import type { ProgressStore } from './progress/store.ts';
import type { RateLimitStore } from './rate-limit/store.ts';
import type { StateStore } from './state/store.ts';
import type { Store } from './store.ts';
import type { UserStore } from './users/store.ts';

/** One backend's implementation of each concern, and how to close the whole. */
export interface StoreParts {
  log: LogStore;
  progress: ProgressStore;
  deadLetters: DeadLetterStore;
  captures: CaptureStore;
  rateLimit: RateLimitStore;
  state: StateStore;
  users: UserStore;
  cohorts: CohortStore;
  backfills: BackfillStore;
  /** Called once: closing the store again does nothing. */
  close(): Promise<void>;
}

/** The one Store callers see, each method handed to the concern that implements it. */
export function composeStore(parts: StoreParts): Store {
  const { log, progress, deadLetters, captures, rateLimit, state, users, backfills } = parts;
  let closed = false;
  return {
    cohorts: parts.cohorts,

    append: (sourceId, records) => log.append(sourceId, records),
    appendNew: (sourceId, records) => log.appendNew(sourceId, records),
    readAfter: (sourceId, afterSeq, limit) => log.readAfter(sourceId, afterSeq, limit),
    headSeq: (sourceId) => log.headSeq(sourceId),
    countAfter: (sourceId, afterSeq, limit) => log.countAfter(sourceId, afterSeq, limit),
    seqAtTime: (sourceId, time) => log.seqAtTime(sourceId, time),
    pruneLog: (sourceId, range) => log.pruneLog(sourceId, range),
    waitForRecords: (sourceId, afterSeq, timeoutMs, signal) =>
      log.waitForRecords(sourceId, afterSeq, timeoutMs, signal),

    getLaneCursors: (syncId) => progress.getLaneCursors(syncId),
    getStreamCursor: (syncId) => progress.getStreamCursor(syncId),
    streamCursors: () => progress.streamCursors(),
    prepareLanes: (syncId, sourceId, lanes, start) => progress.prepareLanes(syncId, sourceId, lanes, start),
    settleDelivery: (settlement) => progress.settleDelivery(settlement),
    setStreamCursor: (syncId, sourceId, cursor) => progress.setStreamCursor(syncId, sourceId, cursor),
    nextSequence: (key) => progress.nextSequence(key),

    addDeadLetters: (letters) => deadLetters.addDeadLetters(letters),
    listDeadLetters: (syncId, opts) => deadLetters.listDeadLetters(syncId, opts),
    countDeadLetters: (syncId) => deadLetters.countDeadLetters(syncId),
    markRedriven: (ids) => deadLetters.markRedriven(ids),

    captureRequests: (requests) => captures.captureRequests(requests),
    listCapturedRequests: (syncId, opts) => captures.listCapturedRequests(syncId, opts),

    reserveRateSlot: (key, perSecond) => rateLimit.reserveRateSlot(key, perSecond),

    getState: (key) => state.getState(key),
    setStateIfAbsent: (key, value) => state.setStateIfAbsent(key, value),
    setState: (key, value) => state.setState(key, value),

    getUserSnapshots: (syncId, userKeys) => users.getUserSnapshots(syncId, userKeys),
    putUserSnapshots: (syncId, entries) => users.putUserSnapshots(syncId, entries),
    forgetPeople: (input) => users.forgetPeople(input),
    getSuppressedUsers: (syncId, userKeys) => users.getSuppressedUsers(syncId, userKeys),

    markHourDone: (sourceId, hour, done) => backfills.markHourDone(sourceId, hour, done),
    doneHours: (sourceId, fromHour, toHour) => backfills.doneHours(sourceId, fromHour, toHour),
    forgetHours: (sourceId, fromHour, toHour) => backfills.forgetHours(sourceId, fromHour, toHour),

    async close() {
      if (closed) return;
      closed = true;
      await parts.close();
    },
  };
}

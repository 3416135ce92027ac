/**
 * The stream workflow's lane decisions, without Temporal: each pure function of stream-lanes.ts
 * pinned at its edges (no lanes, one, several; the backlog that grows the sync; the quiet waits
 * before the doorbell; the shrink after the idle time; the stall back-off).
 */
import { describe, expect, it } from 'vitest';

import { parseConfig } from '../../../src/config/load.ts';
import type { StreamSyncSpec } from '../../../src/config/schema.ts';
import { AUTO_GROW_BATCHES, AUTO_MAX_LANES } from '../../../src/config/spec-rules.ts';
import { specFor } from '../../../src/control/syncs.ts';
import {
  ATTEMPTS_BEFORE_STALLED,
  AUTO_SHRINK_AFTER_MS,
  DOORBELL_MS,
  IDLE_LANE_RECHECK_MS,
  IDLE_SLEEP_MS,
  LANE_LINGER_MS,
  LANE_RUN_MS,
  MAX_STALL_WAIT_MS,
  PRUNE_EVERY_MS,
  QUIET_WAITS_BEFORE_SLEEP,
  addDeletions,
  allLanesIdle,
  applySummary,
  deliverLaneInputOf,
  idleSleepMsOf,
  initialStreamState,
  isDrowsy,
  laneCountOf,
  lingerMsOf,
  pruneEveryMsOf,
  recordLaneRun,
  recordStalledRound,
  resolveStartFrom,
  shouldGrow,
  shouldShrink,
  stallWaitMsOf,
  stalledOf,
  statusOf,
  type LaneHealth,
} from '../../../src/workflows/stream-lanes.ts';
import type { LaneSummary } from '../../../src/workflows/activity-io.ts';

const config = parseConfig(`
sources: [{ id: web, apiKey: "\${WEB_KEY}" }]
destinations:
  - { id: cio, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", dryRun: false }
syncs:
  - { id: auto, type: stream, source: web, destination: cio, delivery: { lanes: auto, maxRecords: 100 } }
  - { id: fixed, type: stream, source: web, destination: cio, delivery: { lanes: 3 } }
`);
const env = { CIO_SITE_ID: 'site', CIO_TRACK_API_KEY: 'track' };
const autoSpec = specFor(config, config.syncs[0]!, env) as StreamSyncSpec;
const fixedSpec = specFor(config, config.syncs[1]!, env) as StreamSyncSpec;

const idle = (): LaneHealth => ({ idle: true, failedAttempts: 0 });
const busy = (): LaneHealth => ({ idle: false, failedAttempts: 0 });

function summary(over: Partial<LaneSummary> = {}): LaneSummary {
  return {
    outcome: 'delivered',
    lane: 0,
    records: 0,
    delivered: 0,
    filtered: {},
    deadLettered: 0,
    requests: 0,
    cursor: 0,
    headSeq: 0,
    attempt: 1,
    ...over,
  };
}

describe('lane count', () => {
  it('runs the fixed count, or under auto one lane until grown, at most AUTO_MAX_LANES', () => {
    expect(laneCountOf(3, undefined)).toBe(3);
    expect(laneCountOf(3, AUTO_MAX_LANES)).toBe(3);
    expect(laneCountOf('auto', undefined)).toBe(1);
    expect(laneCountOf('auto', 1)).toBe(1);
    expect(laneCountOf('auto', AUTO_MAX_LANES)).toBe(AUTO_MAX_LANES);
    expect(laneCountOf('auto', AUTO_MAX_LANES + 5)).toBe(AUTO_MAX_LANES);
  });

  it('hands over to the waiter only when several lanes are all idle', () => {
    expect(allLanesIdle([])).toBe(false);
    expect(allLanesIdle([idle()])).toBe(false);
    expect(allLanesIdle([idle(), idle()])).toBe(true);
    expect(allLanesIdle([idle(), busy()])).toBe(false);
  });
});

describe('linger', () => {
  it('lets a lone lane linger as long as a run lasts, bounded by waitFor', () => {
    expect(lingerMsOf(0, [busy()], 60_000, false)).toBe(LANE_RUN_MS);
    expect(lingerMsOf(0, [idle()], 60_000, false)).toBe(LANE_RUN_MS);
    expect(lingerMsOf(0, [busy()], 2_000, false)).toBe(2_000);
  });

  it('looks only briefly after a sleep that ran out on its timer', () => {
    expect(lingerMsOf(0, [busy()], 60_000, true)).toBe(LANE_LINGER_MS);
    expect(lingerMsOf(0, [busy()], 50, true)).toBe(50);
  });

  it('with several lanes, lingers long beside a busy lane and briefly when every other lane is idle', () => {
    expect(lingerMsOf(0, [busy(), busy()], 60_000, false)).toBe(LANE_RUN_MS);
    expect(lingerMsOf(0, [busy(), idle(), busy()], 60_000, true)).toBe(LANE_RUN_MS);
    // Its own state does not count: only the others'.
    expect(lingerMsOf(0, [busy(), idle()], 60_000, false)).toBe(LANE_LINGER_MS);
    expect(lingerMsOf(1, [idle(), busy(), idle()], 60_000, false)).toBe(LANE_LINGER_MS);
  });

  it('with no lanes, has no busy neighbour: brief', () => {
    expect(lingerMsOf(0, [], 60_000, false)).toBe(LANE_LINGER_MS);
  });
});

describe('doorbell', () => {
  it(`is armed only after ${QUIET_WAITS_BEFORE_SLEEP} quiet waits`, () => {
    const waitFor = 10_000;
    expect(isDrowsy(1_000, 1_000, waitFor)).toBe(false);
    expect(isDrowsy(1_000, 1_000 + QUIET_WAITS_BEFORE_SLEEP * waitFor - 1, waitFor)).toBe(false);
    expect(isDrowsy(1_000, 1_000 + QUIET_WAITS_BEFORE_SLEEP * waitFor, waitFor)).toBe(true);
  });

  it('stays armed longer than the sleep it wakes', () => {
    expect(DOORBELL_MS).toBeGreaterThan(IDLE_SLEEP_MS);
  });

  it('sleeps IDLE_SLEEP_MS, or under auto with several lanes until the shrink is due (at least a recheck)', () => {
    const since = 1_000_000;
    expect(idleSleepMsOf(false, 3, undefined, since)).toBe(IDLE_SLEEP_MS);
    expect(idleSleepMsOf(true, 1, since, since)).toBe(IDLE_SLEEP_MS);
    expect(idleSleepMsOf(true, AUTO_MAX_LANES, since, since)).toBe(AUTO_SHRINK_AFTER_MS);
    expect(idleSleepMsOf(true, AUTO_MAX_LANES, since, since + 20_000)).toBe(AUTO_SHRINK_AFTER_MS - 20_000);
    expect(idleSleepMsOf(true, AUTO_MAX_LANES, since, since + AUTO_SHRINK_AFTER_MS)).toBe(
      IDLE_LANE_RECHECK_MS,
    );
    expect(idleSleepMsOf(true, AUTO_MAX_LANES, undefined, since)).toBe(IDLE_LANE_RECHECK_MS);
  });
});

describe('grow and shrink', () => {
  const threshold = AUTO_GROW_BATCHES * 100;

  it('grows an auto sync below the most lanes once a run ends behind', () => {
    expect(shouldGrow(true, 1, summary({ behind: true }), 100)).toBe(true);
    expect(shouldGrow(true, 1, summary({ behind: false, headSeq: 10 * threshold }), 100)).toBe(false);
    expect(shouldGrow(false, 1, summary({ behind: true }), 100)).toBe(false);
    expect(shouldGrow(true, AUTO_MAX_LANES, summary({ behind: true }), 100)).toBe(false);
  });

  it('reads summaries without `behind` by their seqs: more than AUTO_GROW_BATCHES full requests', () => {
    expect(shouldGrow(true, 1, summary({ cursor: 50, headSeq: 50 + threshold }), 100)).toBe(false);
    expect(shouldGrow(true, 1, summary({ cursor: 50, headSeq: 51 + threshold }), 100)).toBe(true);
  });

  it(`shrinks back to one lane ${AUTO_SHRINK_AFTER_MS / 1000}s after growing, once every lane is at the same cursor`, () => {
    const since = 1_000_000;
    const due = since + AUTO_SHRINK_AFTER_MS;
    expect(shouldShrink(true, 4, [7, 7, 7, 7], since, due)).toBe(true);
    expect(shouldShrink(true, 4, [7, 7, 7, 7], since, due - 1)).toBe(false);
    expect(shouldShrink(true, 4, [7, 7, 8, 7], since, due)).toBe(false);
    expect(shouldShrink(true, 1, [7], since, due)).toBe(false);
    expect(shouldShrink(false, 4, [7, 7, 7, 7], since, due)).toBe(false);
    // A state carried from before `autoLanesSince` existed counts from the epoch.
    expect(shouldShrink(true, 4, [7, 7, 7, 7], undefined, AUTO_SHRINK_AFTER_MS)).toBe(true);
  });
});

describe("a lane run's input", () => {
  const base = { lane: 0, startFrom: 'beginning' as const, failedAttempts: 0, lingerMs: 100, drowsy: false };

  it('asks an auto sync below the most lanes to end when behind, and carries the stall count', () => {
    expect(deliverLaneInputOf({ ...base, spec: autoSpec, count: 1, auto: true, failedAttempts: 8 })).toEqual({
      syncId: 'auto',
      spec: autoSpec,
      lane: 0,
      lanes: 1,
      startFrom: 'beginning',
      failedAttempts: 8,
      lingerMs: 100,
      maxRunMs: LANE_RUN_MS,
      endWhenBehind: AUTO_GROW_BATCHES * 100,
    });
    const grown = deliverLaneInputOf({ ...base, spec: autoSpec, count: AUTO_MAX_LANES, auto: true });
    expect(grown).not.toHaveProperty('endWhenBehind');
    expect(grown).not.toHaveProperty('failedAttempts');
  });

  it('lets a lone drowsy lane arm the doorbell; several lanes leave it to the waiter', () => {
    const fixed = { ...base, spec: fixedSpec, auto: false, drowsy: true };
    expect(deliverLaneInputOf({ ...fixed, count: 1 }).doorbellMs).toBe(DOORBELL_MS);
    expect(deliverLaneInputOf({ ...fixed, count: 3 })).not.toHaveProperty('doorbellMs');
    expect(deliverLaneInputOf({ ...fixed, count: 1, drowsy: false })).not.toHaveProperty('doorbellMs');
    expect(deliverLaneInputOf({ ...fixed, count: 3 })).not.toHaveProperty('endWhenBehind');
  });
});

describe('stalls and status', () => {
  it('backs off 5 s, doubling per stalled round, at most MAX_STALL_WAIT_MS', () => {
    const after = (rounds: number) => stallWaitMsOf(rounds * ATTEMPTS_BEFORE_STALLED);
    expect([1, 2, 3, 4].map(after)).toEqual([5_000, 10_000, 20_000, 40_000]);
    expect(after(20)).toBe(MAX_STALL_WAIT_MS);
  });

  it('counts a stalled round on the lane and in the retries, keeping when it began', () => {
    const state = initialStreamState(fixedSpec);
    const lane = busy();
    recordStalledRound(lane, state, '2026-12-01T10:00:00.000Z');
    recordStalledRound(lane, state, '2026-12-01T10:05:00.000Z');
    expect(lane).toMatchObject({
      failedAttempts: 2 * ATTEMPTS_BEFORE_STALLED,
      failingSince: '2026-12-01T10:00:00.000Z',
    });
    expect(state.counters.retried).toBe(2 * ATTEMPTS_BEFORE_STALLED);
    recordLaneRun(lane, summary({ outcome: 'credentials_missing' }));
    expect(lane).toEqual({
      idle: false,
      failedAttempts: 0,
      failingSince: undefined,
      hold: 'credentials_missing',
    });
    recordLaneRun(lane, summary({ outcome: 'idle' }));
    expect(lane).toEqual({ idle: true, failedAttempts: 0, failingSince: undefined, hold: undefined });
  });

  it('is paused, else stalled since the earliest failing lane, else held, else running', () => {
    const failing = (failedAttempts: number, failingSince: string): LaneHealth => ({
      idle: false,
      failedAttempts,
      failingSince,
    });
    const lanes = [busy(), failing(4, '2026-12-01T10:05:00.000Z'), failing(8, '2026-12-01T10:00:00.000Z')];
    const stalled = stalledOf(lanes);
    expect(stalled).toEqual({ attempts: 12, since: '2026-12-01T10:00:00.000Z' });
    expect(statusOf(false, stalled, lanes)).toBe('stalled');
    expect(statusOf(true, stalled, lanes)).toBe('paused');
    const held = [busy(), { ...busy(), hold: 'credentials_rejected' as const }];
    expect(statusOf(false, stalledOf(held), held)).toBe('credentials_rejected');
    expect(stalledOf([])).toBeUndefined();
    expect(statusOf(false, undefined, [])).toBe('running');
  });
});

describe("folding a lane's summary", () => {
  it('mirrors the lane cursor, keeps the lowest as the sync cursor and adds up the counters', () => {
    const state = initialStreamState(fixedSpec);
    state.lanes = [0, 0, 0];
    const at = '2026-12-01T10:00:00.000Z';
    applySummary(
      state,
      summary({
        lane: 1,
        cursor: 40,
        headSeq: 90,
        delivered: 30,
        deadLettered: 1,
        requests: 2,
        attempt: 3,
        filtered: { no_identifier: 2 },
        deletions: { person_delete: 1 },
      }),
      at,
    );
    expect(state).toMatchObject({ lanes: [0, 40, 0], cursor: 0, headSeq: 90, lastDeliveryAt: at });
    expect(state.counters).toEqual({
      delivered: 30,
      deadLettered: 1,
      requests: 2,
      retried: 2,
      filtered: { no_identifier: 2 },
      deletions: { person_delete: 1 },
    });
    applySummary(state, summary({ lane: 0, cursor: 50, headSeq: 80 }), at);
    applySummary(state, summary({ lane: 2, cursor: 45, headSeq: 80, filtered: { no_identifier: 1 } }), at);
    expect(state).toMatchObject({ lanes: [50, 40, 45], cursor: 40, headSeq: 90 });
    expect(state.counters.filtered).toEqual({ no_identifier: 3 });
  });

  it('leaves the last delivery alone on an idle run, and records an error with its status', () => {
    const state = initialStreamState(fixedSpec);
    state.lanes = [0];
    applySummary(state, summary({ outcome: 'idle', error: 'Customer.io answered 503', status: 503 }), 'now');
    expect(state.lastDeliveryAt).toBeUndefined();
    expect(state.lastError).toEqual({ message: 'Customer.io answered 503', at: 'now', status: 503 });
    applySummary(state, summary({ outcome: 'idle', error: 'timeout' }), 'later');
    expect(state.lastError).toEqual({ message: 'timeout', at: 'later' });
  });

  it('adds deletions by kind, and makes no entry when there are none', () => {
    const counters = initialStreamState(fixedSpec).counters;
    addDeletions(counters, undefined);
    expect(counters.deletions).toBeUndefined();
    addDeletions(counters, { person_delete: 2 });
    addDeletions(counters, { person_delete: 1, suppress: 1 });
    expect(counters.deletions).toEqual({ person_delete: 3, suppress: 1 });
  });
});

describe('start and pruning', () => {
  it('starts from the beginning, the sync’s creation for `now`, or a given time', () => {
    expect(resolveStartFrom('beginning', 5)).toBe('beginning');
    expect(resolveStartFrom('now', 5)).toEqual({ time: 5 });
    expect(resolveStartFrom('2026-12-01T00:00:00.000Z', 5)).toEqual({
      time: Date.parse('2026-12-01T00:00:00.000Z'),
    });
  });

  it('prunes every half retention, between 30 s and PRUNE_EVERY_MS', () => {
    expect(pruneEveryMsOf(7 * 86_400_000)).toBe(PRUNE_EVERY_MS);
    expect(pruneEveryMsOf(10 * 60_000)).toBe(5 * 60_000);
    expect(pruneEveryMsOf(60_000)).toBe(30_000);
  });
});

import { describe, expect, it } from 'vitest';

import { parseConfig } from '../../../src/config/load.ts';
import type { StreamSync } from '../../../src/config/schema.ts';
import type { CanonicalRecord, LoggedRecord } from '../../../src/events/record.ts';
import {
  barrierBatch,
  barrierReady,
  laneOwns,
  passBarrier,
  settledTo,
  startLaneWalk,
  walkLane,
} from '../../../src/mapping/lane-walk.ts';
import { BARRIER, laneOf } from '../../../src/mapping/lanes.ts';

const sync = parseConfig(
  `sources:
  - { id: web, apiKey: '\${K}' }
destinations:
  - { id: cio, siteId: s, trackApiKey: '\${T:-}' }
syncs:
  - { id: s1, type: stream, source: web, destination: cio, delivery: { lanes: 2, maxRecords: 2 } }
`,
  'cio.yaml',
).syncs[0] as StreamSync;

const base = { origin: 'segment', time: 0, event_properties: {}, user_properties: {}, context: {} } as const;
const track = (userId: string): CanonicalRecord => ({ ...base, kind: 'track', user_id: userId });
const alias = (userId: string, previousId: string): CanonicalRecord =>
  ({ ...base, kind: 'alias', user_id: userId, previous_id: previousId }) as CanonicalRecord;
const people = ['user-1', 'user-2', 'user-3', 'user-4', 'user-5'];
/** A person of each lane (laneOf is the delivery's split). */
const a = people.find((p) => laneOf(track(p), sync, 2) === 0)!;
const b = people.find((p) => laneOf(track(p), sync, 2) === 1)!;
const logOf = (...records: CanonicalRecord[]): LoggedRecord[] =>
  records.map((record, i) => ({ seq: i + 1, sourceId: 'web', receivedAt: 0, record }));

describe('walkLane', () => {
  const log = logOf(track(b), track(a), track(a), track(a), alias(a, b), track(b));
  const options = (lane: number, stored: number) => ({ sync, lanes: 2, lane, stored });

  it('takes the lane’s own records up to maxRecords, passing over the other lane’s', () => {
    const walk = startLaneWalk(0);
    const stop = walkLane(walk, log, options(0, 0));
    expect(stop).toEqual({ kind: 'batch', batch: { mine: [log[1], log[2]], to: 3 } });
    // The next walk, from the settled cursor: a's last record, then the barrier ends the batch.
    const next = walkLane(startLaneWalk(3), log.slice(3), options(0, 3));
    expect(next).toEqual({ kind: 'batch', batch: { mine: [log[3]], to: 4, atBarrier: true } });
  });

  it('ends a batch at a barrier, and stands at it only once its position is stored', () => {
    // Lane 1 passed a's records: it must store its position before it may wait at the barrier.
    const passed = startLaneWalk(1);
    expect(walkLane(passed, log.slice(1), options(1, 1))).toEqual({
      kind: 'batch',
      batch: { mine: [], to: 4, atBarrier: true },
    });
    const at = startLaneWalk(4);
    expect(walkLane(at, log.slice(4), options(1, 4))).toEqual({
      kind: 'barrier',
      barrier: log[4],
      rest: [log[5]],
    });
    // Lane 1 passes the barrier once lane 0 has settled it, and walks on through the rest.
    expect(barrierReady(1, 5, [4, 4])).toBe(false);
    expect(barrierReady(1, 5, [5, 4])).toBe(true);
    passBarrier(at, log[4]!);
    expect(walkLane(at, [log[5]!], options(1, 4))).toEqual({ kind: 'read_on' });
    expect(at).toMatchObject({ mine: [log[5]], to: 6 });
  });

  it('has lane 0 send a barrier alone once every other lane has passed what comes before it', () => {
    expect(barrierReady(0, 5, [4, 3])).toBe(false);
    expect(barrierReady(0, 5, [4, 4])).toBe(true);
    expect(barrierBatch(log[4]!)).toEqual({ mine: [log[4]], to: 5 });
    expect(laneOf(log[4]!.record, sync, 2)).toBe(BARRIER);
    expect([0, 1].map((lane) => laneOwns(log[4]!.record, sync, lane, 2))).toEqual([true, true]);
    expect([0, 1].map((lane) => laneOwns(log[0]!.record, sync, lane, 2))).toEqual([false, true]);
  });

  it('reads on when the entries end before the batch does; one lane never meets a barrier', () => {
    const walk = startLaneWalk(0);
    expect(walkLane(walk, [log[0]!], options(0, 0))).toEqual({ kind: 'read_on' });
    expect(walk).toEqual({ from: 0, mine: [], to: 1 });
    const one = startLaneWalk(0);
    const stops = walkLane(one, log.slice(3, 6), { sync, lanes: 1, lane: 0, stored: 0 });
    expect(stops).toEqual({ kind: 'batch', batch: { mine: [log[3], log[4]], to: 5 } });
  });
});

describe('settledTo', () => {
  it('moves the cursor to the batch’s end, or to just before the first record planBatch left out', () => {
    const log = logOf(track(a), track(b), track(a));
    const batch = { mine: [log[0]!, log[2]!], to: 3 };
    expect(settledTo(batch, 3)).toBe(3);
    expect(settledTo(batch, 1)).toBe(2);
  });
});

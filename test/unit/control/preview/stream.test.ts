import { describe, expect, it } from 'vitest';

import type { StreamSync } from '../../../../src/config/schema.ts';
import { laneOf } from '../../../../src/mapping/lanes.ts';
import { parsePreviewInput, previewCalls } from '../../../../src/control/preview.ts';
import { ENV, line, NOW, oneStreamSync } from './fixtures.ts';

describe('previewStream: lanes', () => {
  it('splits the records by person into lanes, and sends a merge alone once every lane has passed it', () => {
    const cfg = oneStreamSync('lanes: 2, maxRecords: 2');
    const sync = cfg.syncs[0] as StreamSync;
    // Two people who land in different lanes (laneOf is the delivery's own split).
    const laneOfUser = (userId: string) =>
      laneOf(
        {
          kind: 'track',
          origin: 'segment',
          time: 0,
          user_id: userId,
          event_properties: {},
          user_properties: {},
          context: {},
        },
        sync,
        2,
      );
    const people = ['user-1', 'user-2', 'user-3', 'user-4', 'user-5'];
    const a = people.find((p) => laneOfUser(p) === 0)!;
    const b = people.find((p) => laneOfUser(p) === 1)!;
    const track = (userId: string, event: string) => line({ type: 'track', userId, event, messageId: event });
    const text = [
      track(b, 'b1'),
      track(a, 'a1'),
      track(a, 'a2'),
      track(a, 'a3'),
      line({ type: 'alias', userId: a, previousId: b, messageId: 'merge' }),
      track(b, 'b2'),
    ].join('\n');
    const [preview] = previewCalls(cfg, parsePreviewInput(text, 'in'), { now: NOW, env: ENV }).syncs;
    // Before the merge: lane 0 sends a's three records two at a time, lane 1 b's one; then the merge
    // alone on lane 0; then what follows it.
    expect(preview!.requests.map((r) => [r.lane, r.seqs])).toEqual([
      [0, [2, 3]],
      [0, [4]],
      [1, [1]],
      [0, [5]],
      [1, [6]],
    ]);
    expect(preview!.requests[3]!.body.batch).toEqual([
      { type: 'person', action: 'merge', primary: { id: a }, secondary: { id: b } },
    ]);
    expect(preview!.records.map((r) => [r.seq, r.lane, r.outcome === 'sent' && r.request])).toEqual([
      [1, 1, 3],
      [2, 0, 1],
      [3, 0, 1],
      [4, 0, 2],
      [5, 0, 4],
      [6, 1, 5],
    ]);
  });

  it('shows lanes: auto with one lane up to four full requests, and with four lanes beyond', () => {
    const cfg = oneStreamSync('maxRecords: 2');
    const calls = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        line({ type: 'track', userId: `user-${i}`, event: 'E', messageId: `m${i}` }),
      );
    const at = (n: number) =>
      previewCalls(cfg, parsePreviewInput(calls(n).join('\n'), 'in'), { now: NOW, env: ENV }).syncs[0]!;

    const small = at(8);
    expect(small.notes).toEqual([
      'lanes: auto: one lane, as for any log of up to 8 records (4 full requests)',
    ]);
    expect(small.requests.map((r) => [r.lane, r.seqs])).toEqual([
      [0, [1, 2]],
      [0, [3, 4]],
      [0, [5, 6]],
      [0, [7, 8]],
    ]);

    const big = at(9);
    expect(big.notes).toEqual([
      'lanes: auto, shown with 4: over 8 records (4 full requests) it grows to 4 lanes once its first lane finds the backlog, and the requests that lane sent meanwhile are split differently; requests of different lanes are sent side by side, in no fixed order',
    ]);
    expect(new Set(big.requests.map((r) => r.lane)).size).toBeGreaterThan(1);
    expect(big.requests.flatMap((r) => r.seqs).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

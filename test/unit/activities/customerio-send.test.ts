import { afterAll, describe, expect, it } from 'vitest';

import type { Destination } from '../../../src/config/schema.ts';
import type { CioCallResult } from '../../../src/customerio/client.ts';
import { openSqliteStore } from '../../../src/store/sqlite.ts';
import { sendToCustomerIo } from '../../../src/activities/customerio-send.ts';

const store = await openSqliteStore(':memory:');
afterAll(() => store.close());

/** The most of `times` (ms) inside any one-second window, as Customer.io counts them. */
function busiestSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= 1000) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe('sendToCustomerIo', () => {
  it('never lets more than the budget arrive within a second, however late the requests leave', async () => {
    // 5 requests/s: slots 250 ms apart (paced at 4 a second). The first requests leave late (a lane
    // that read and mapped after its slot, a stalled event loop): by their slots alone, six would
    // land at Customer.io within one second.
    const destination = { id: 'gate', requestsPerSecond: 5, appRequestsPerSecond: 10 } as Destination;
    const late = [900, 650, 400, 150, 0, 0, 900, 650, 400, 150];
    const arrivals: number[] = [];
    const request = async (i: number): Promise<CioCallResult> => {
      await new Promise((r) => setTimeout(r, late[i]));
      arrivals.push(Date.now());
      // Answered 30 ms after it arrived.
      await new Promise((r) => setTimeout(r, 30));
      return {
        outcome: { kind: 'ok', status: 200, body: {} },
        durationMs: 30,
        request: { method: 'POST', url: 'http://127.0.0.1/api/v2/batch', headers: {}, api: 'track' },
      };
    };
    const sent = await Promise.all(
      late.map((_, i) => sendToCustomerIo(store, destination, 'track', () => request(i))),
    );
    expect(sent.map((s) => s.kind)).toEqual(late.map(() => 'done'));
    expect(arrivals).toHaveLength(late.length);
    expect(busiestSecond(arrivals)).toBe(5);
  });
});

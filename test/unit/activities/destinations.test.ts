import { describe, expect, it } from 'vitest';

import { connectionsFor } from '../../../src/activities/destinations.ts';

describe('connectionsFor', () => {
  it('opens enough sockets for the whole budget at 100 ms a request, and at least 16', () => {
    expect(connectionsFor({ requestsPerSecond: 20 })).toBe(16);
    expect(connectionsFor({ requestsPerSecond: 100 })).toBe(16);
    expect(connectionsFor({ requestsPerSecond: 250 })).toBe(25);
    expect(connectionsFor({ requestsPerSecond: 1000 })).toBe(100);
    expect(connectionsFor({ requestsPerSecond: 1001 })).toBe(101);
  });
});

/**
 * The cohort workflow's decisions about a run, without Temporal: when a snapshot holds the run for
 * confirmation, and how an applied run is counted.
 */
import { describe, expect, it } from 'vitest';

import { parseConfig } from '../../../src/config/load.ts';
import type { CohortSyncSpec } from '../../../src/config/schema.ts';
import { specFor } from '../../../src/control/syncs.ts';
import {
  countRun,
  initialCohortState,
  isHeldForConfirmation,
  largeRemovalOf,
} from '../../../src/workflows/cohort-sync.ts';
import type { CohortRunSummary } from '../../../src/workflows/activity-io.ts';

const config = parseConfig(`
destinations:
  - { id: cio, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", appApiKey: "\${CIO_APP_API_KEY}", dryRun: false }
syncs:
  - { id: vip, type: cohort, destination: cio, cohort: { from: file, path: /tmp/vip.csv }, segment: { name: VIP }, cadence: hourly }
`);
const env = { CIO_SITE_ID: 'site', CIO_TRACK_API_KEY: 'track', CIO_APP_API_KEY: 'app' };
const spec = specFor(config, config.syncs[0]!, env) as CohortSyncSpec;

describe('a large removal', () => {
  it('holds a run that removes more than maxRemovalRatio of the last run’s members', () => {
    expect(largeRemovalOf('r2', { toRemove: 30, baselineMembers: 100, members: 70 }, 0.25)).toEqual({
      runId: 'r2',
      toRemove: 30,
      baselineMembers: 100,
      members: 70,
      maxRemovalRatio: 0.25,
    });
    expect(largeRemovalOf('r2', { toRemove: 25, baselineMembers: 100, members: 75 }, 0.25)).toBeUndefined();
  });

  it('never holds with a ratio of 0, nor a first run (no members before)', () => {
    expect(largeRemovalOf('r2', { toRemove: 100, baselineMembers: 100, members: 0 }, 0)).toBeUndefined();
    expect(largeRemovalOf('r1', { toRemove: 0, baselineMembers: 0, members: 50 }, 0.1)).toBeUndefined();
  });

  it('waits for confirmation only while the held run is the one in progress and unconfirmed', () => {
    const state = initialCohortState(spec);
    expect(isHeldForConfirmation(state)).toBe(false);
    state.current = { runId: 'r2', startedAt: '2026-12-01T10:00:00.000Z', stage: 'apply' };
    expect(isHeldForConfirmation(state)).toBe(false);
    state.held = largeRemovalOf('r2', { toRemove: 30, baselineMembers: 100, members: 70 }, 0.25);
    expect(isHeldForConfirmation(state)).toBe(true);
    state.current.confirmed = true;
    expect(isHeldForConfirmation(state)).toBe(false);
    state.current = { runId: 'r3', startedAt: '2026-12-01T11:00:00.000Z', stage: 'snapshot' };
    expect(isHeldForConfirmation(state)).toBe(false);
  });
});

describe('an applied run', () => {
  it('becomes the last run and adds to the counters, rejected ones only when there are any', () => {
    const state = initialCohortState(spec);
    const run = (over: Partial<CohortRunSummary>): CohortRunSummary => ({
      runId: 'r',
      startedAt: '2026-12-01T10:00:00.000Z',
      finishedAt: '2026-12-01T10:01:00.000Z',
      members: 10,
      added: 3,
      removed: 1,
      skipped: 2,
      ...over,
    });
    countRun(state, run({ runId: 'r1' }));
    expect(state.counters).toEqual({ runs: 1, added: 3, removed: 1, skipped: 2 });
    countRun(state, run({ runId: 'r2', rejected: 4 }));
    expect(state.counters).toEqual({ runs: 2, added: 6, removed: 2, skipped: 4, rejected: 4 });
    expect(state.lastRun?.runId).toBe('r2');
  });
});

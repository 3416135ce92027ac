import { describe, expect, it } from 'vitest';

import { parseConfig } from '../../../src/config/load.ts';
import type { CohortSyncSpec, StreamSyncSpec } from '../../../src/config/schema.ts';
import { specFor } from '../../../src/control/syncs.ts';
import { staticDetailsOf } from '../../../src/control/web-ui-static-details.ts';
import { initialCohortState } from '../../../src/workflows/cohort-sync.ts';
import {
  activitySummary,
  cohortDetails,
  count,
  streamDetails,
} from '../../../src/workflows/web-ui-details.ts';
import { initialStreamState } from '../../../src/workflows/stream-lanes.ts';

const config = parseConfig(`
sources: [{ id: web, apiKey: "\${WEB_KEY}" }]
destinations:
  - { id: cio, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", appApiKey: "\${CIO_APP_API_KEY}", dryRun: false }
syncs:
  - { id: events, name: Web events, type: stream, source: web, destination: cio, delivery: { lanes: 2 } }
  - { id: vip, type: cohort, destination: cio, cohort: { from: file, path: /tmp/vip.csv }, segment: { name: VIP }, cadence: hourly }
`);
const env = { CIO_SITE_ID: 'site-secret', CIO_TRACK_API_KEY: 'track-secret', CIO_APP_API_KEY: 'app-secret' };
const stream = specFor(config, config.syncs[0]!, env) as StreamSyncSpec;
const cohort = specFor(config, config.syncs[1]!, env) as CohortSyncSpec;

describe('Web UI details', () => {
  it('formats counts with thousands separators', () => {
    expect([0, 999, 1000, 1234567].map(count)).toEqual(['0', '999', '1,000', '1,234,567']);
  });

  it("shows a stream sync's status, cursor, lag, counters and last error", () => {
    const state = initialStreamState(stream);
    Object.assign(state, {
      cursor: 1200,
      lanes: [1200, 1500],
      headSeq: 2000,
      lastDeliveryAt: '2026-12-01T10:00:00.000Z',
      status: 'stalled',
      stalled: { attempts: 8, since: '2026-12-01T09:59:00.000Z' },
      lastError: {
        message: 'Customer.io answered 503\nretrying',
        at: '2026-12-01T10:00:01.000Z',
        status: 503,
      },
    });
    state.counters = {
      delivered: 1190,
      filtered: { no_identifier: 10 },
      deadLettered: 0,
      retried: 8,
      requests: 3,
    };
    expect(streamDetails(stream, state)).toBe(
      [
        '**stalled** · web → cio · cursor **1,200** of 2,000 (lag 800)',
        '',
        '- delivered 1,190 · dead-lettered 0 · filtered no_identifier 10 · retried 8 · requests 3',
        '- last delivery 2026-12-01T10:00:00.000Z',
        '- lane cursors 1,200 / 1,500',
        '- **stalled** since 2026-12-01T09:59:00.000Z after 8 attempts.',
        '- last error (HTTP 503) at 2026-12-01T10:00:01.000Z: Customer.io answered 503 retrying',
      ].join('\n'),
    );
  });

  it("shows a cohort sync's run in progress, last run and a held removal", () => {
    const state = initialCohortState(cohort);
    state.current = { runId: '7', startedAt: '2026-12-01T10:00:00.000Z', stage: 'apply' };
    state.lastRun = {
      runId: '6',
      startedAt: '2026-12-01T09:00:00.000Z',
      finishedAt: '2026-12-01T09:00:04.000Z',
      members: 1_000_000,
      added: 10_000,
      removed: 25,
      skipped: 0,
    };
    state.held = {
      runId: '7',
      toRemove: 900_000,
      baselineMembers: 1_000_000,
      members: 100_000,
      maxRemovalRatio: 0.5,
    };
    state.status = 'held_large_removal';
    expect(cohortDetails(cohort, state)).toBe(
      [
        '**held_large_removal** · file → cio (segment)',
        '',
        '- run 7 in progress (apply), started 2026-12-01T10:00:00.000Z',
        '- last run 6 finished 2026-12-01T09:00:04.000Z: 1,000,000 members, +10,000 / −25',
        '- runs 0 · added 0 · removed 0 · skipped 0',
        '- **held**: run 7 would remove 900,000 of 1,000,000 members; `cio-sync run vip --confirm` applies it',
      ].join('\n'),
    );
  });

  it('names what each activity does', () => {
    expect(activitySummary.deliverLane(stream, 1, 2, 1234)).toBe(
      'lane 2/2: deliver web records after #1,234 → Customer.io (cio)',
    );
    expect(activitySummary.redrive(undefined)).toBe('redrive all open dead letters → Customer.io');
    expect(activitySummary.redrive([1])).toBe('redrive 1 dead letter → Customer.io');
    expect(activitySummary.applyCohortDiff(cohort, '7', { toAdd: 1000, toRemove: 3 })).toBe(
      'apply run 7: +1,000 / −3 members → Customer.io segment (cio)',
    );
    expect(activitySummary.ensureSegment(cohort)).toBe('find or create segment "VIP"');
  });

  it('starts a workflow with its config as Markdown, references in place of secrets', () => {
    const details = staticDetailsOf(stream);
    expect(details).toContain(
      '**Web events** — stream sync from source `web` to Customer.io destination `cio`',
    );
    expect(details).toContain('```yaml\nsync:\n  id: events\n');
    expect(details).toContain('trackApiKey: ${CIO_TRACK_API_KEY}');
    for (const secret of Object.values(env)) expect(details).not.toContain(secret);
  });
});

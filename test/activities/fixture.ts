import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';

import { DestinationClients } from '../../src/activities/destinations.ts';
import type { DeliveryMetrics } from '../../src/activities/delivery-metrics.ts';
import type { ActivityDeps } from '../../src/activities/deps.ts';
import { CohortSync, Destination, type CohortSyncSpec } from '../../src/config/schema.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { startFakeCustomerIo, type FakeCustomerIo } from '../fakes/customerio/index.ts';

/**
 * What the activity unit tests share: a real SQLite store in memory, the fake Customer.io, and the
 * activities' dependencies wired as the worker wires them (createActivities), with the worker's
 * environment holding the destination's secrets.
 */
export interface ActivityFixture {
  deps: ActivityDeps;
  cio: FakeCustomerIo;
  dir: string;
  /** What the activities reported to the metrics hooks, in order. */
  cohortIds: Array<{ syncId: string; change: 'added' | 'removed'; count: number }>;
  /** A cohort sync's spec; `sync` overrides go through the config schema's defaults. */
  spec(sync?: Record<string, unknown>, destination?: Record<string, unknown>): CohortSyncSpec;
  /** A members file in the fixture's directory (CSV with an `id` header). */
  members(name: string, ids: readonly string[]): Promise<string>;
  close(): Promise<void>;
}

export const ENV = {
  CIO_SITE_ID: 'site-id',
  CIO_TRACK_KEY: 'track-key',
  CIO_APP_KEY: 'app-key',
  // The worker's policy: these variables for destinations, the fake on loopback as an override
  // host, cohort files in the temp directory.
  CIO_SYNC_DESTINATION_VARIABLES: 'CIO_SITE_ID,CIO_TRACK_KEY,CIO_APP_KEY',
  CIO_SYNC_OVERRIDE_HOSTS: '127.0.0.1',
  CIO_SYNC_COHORT_DIR: tmpdir(),
};

export async function activityFixture(): Promise<ActivityFixture> {
  const store = await openSqliteStore(':memory:');
  const cio = await startFakeCustomerIo();
  const dir = await mkdtemp(join(tmpdir(), 'cio-sync-activities-'));
  const cohortIds: ActivityFixture['cohortIds'] = [];
  const metrics: DeliveryMetrics = {
    onRecords() {},
    onLag() {},
    onDelivery() {},
    onRetry() {},
    onCustomerIoCall() {},
    onSyncState() {},
    onCohortIds: (syncId, change, count) => cohortIds.push({ syncId, change, count }),
  };
  const clients = new DestinationClients(store, ENV, metrics);
  return {
    deps: { store, clients, env: ENV, metrics },
    cio,
    dir,
    cohortIds,
    spec(sync = {}, destination = {}) {
      return {
        sync: CohortSync.parse({
          id: 'vips',
          type: 'cohort',
          destination: 'cio',
          cohort: { from: 'file', path: join(dir, 'members.csv') },
          segment: { name: 'VIPs' },
          ...sync,
        }),
        destination: Destination.parse({
          id: 'cio',
          siteId: '${CIO_SITE_ID}',
          trackApiKey: '${CIO_TRACK_KEY}',
          appApiKey: '${CIO_APP_KEY}',
          trackUrl: cio.url,
          appUrl: cio.url,
          // No pacing between requests in a unit test (the limiter has tests of its own).
          requestsPerSecond: 1000,
          appRequestsPerSecond: 10,
          timeout: 2000,
          ...destination,
        }),
      };
    },
    async members(name, ids) {
      const path = join(dir, name);
      await writeFile(path, ['id', ...ids].join('\n') + '\n');
      return path;
    },
    async close() {
      await clients.close();
      await cio.close();
      await store.close();
    },
  };
}

/**
 * A fresh mock environment per activity attempt (a cancelled one stays cancelled), with its
 * heartbeats. The SDK's "Activity failed" warnings are what these tests provoke on purpose: only
 * errors are logged.
 */
export function mockEnvironment(info: ConstructorParameters<typeof MockActivityEnvironment>[0] = {}) {
  const env = new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (details: unknown) => heartbeats.push(details));
  return { env, heartbeats };
}

/** What an activity threw, for asserting on its failure type. */
export async function failureOf(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (err) {
    return err as Record<string, unknown>;
  }
  throw new Error('expected the activity to fail');
}

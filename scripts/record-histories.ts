/**
 * Records the histories test/replay.test.ts replays against the current workflow code, so that a
 * change which would break a running sync fails CI. Re-record (and review the diff) only when a
 * workflow change is meant to be incompatible and is shipped behind `patched()` or a new Worker
 * Deployment version (README, "Changing workflows safely").
 *
 *   node scripts/record-histories.ts
 *
 * Runs its own Temporal dev server, a worker on the current code and a fake Customer.io, on
 * loopback; writes test/replay/<workflow>.<day>.history.bin (Temporal's History protobuf) beside the
 * earlier recordings, which stay.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';

import { parseConfig } from '../src/config/load.ts';
import { specFor, startSync } from '../src/control/syncs.ts';
import type { CanonicalRecord } from '../src/events/record.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { startDevServer } from '../src/temporal/dev-server.ts';
import { startWorker } from '../src/worker.ts';
import {
  cohortStatusQuery,
  pauseSignal,
  resumeSignal,
  runNowSignal,
  setCursorUpdate,
  statusQuery,
  updateConfigUpdate,
} from '../src/workflows/sync-api.ts';
import type { StreamSyncSpec } from '../src/config/schema.ts';
import { startFakeCustomerIo } from '../test/fakes/customerio/index.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'test/replay');
const TASK_QUEUE = 'record-histories';

const dir = await mkdtemp(join(tmpdir(), 'cio-record-'));
const server = await startDevServer({ uiPort: false });
const fake = await startFakeCustomerIo({ siteId: 'site', trackApiKey: 'key', appApiKey: 'app' });
const store = await openSqliteStore(join(dir, 'store.db'));
const env = {
  CIO_SITE_ID: 'site',
  CIO_TRACK_API_KEY: 'key',
  CIO_APP_API_KEY: 'app',
  CIO_SYNC_OVERRIDE_HOSTS: '127.0.0.1',
  CIO_SYNC_COHORT_DIR: dir,
};
const worker = await startWorker({ temporalAddress: server.address, taskQueue: TASK_QUEUE, store, env });
const client = new Client({ connection: await Connection.connect({ address: server.address }) });

async function until<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const cohortFile = join(dir, 'members.csv');
await writeFile(cohortFile, 'user_id\nm-1\nm-2\nm-3\n');
const config = parseConfig(`
sources: [{ id: web, apiKey: "\${WEB_KEY}" }]
destinations:
  - { id: cio, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", appApiKey: "\${CIO_APP_API_KEY}", trackUrl: "${fake.url}", appUrl: "${fake.url}", timeout: 2s }
syncs:
  - { id: replay-stream, type: stream, source: web, destination: cio, delivery: { lanes: 2, waitFor: 1s, credentialsRetry: 1s } }
  - { id: replay-cohort, type: cohort, destination: cio, cohort: { from: file, path: ${cohortFile}, column: user_id }, segment: { name: Replay }, cadence: "0 3 * * *", identifyJoiners: true, retryEvery: 1s }
`);
const track = (n: number): CanonicalRecord => ({
  kind: 'track',
  origin: 'segment',
  event_type: 'Recorded',
  user_id: `user-${n % 5}`,
  insert_id: `rec-${n}`,
  time: Date.UTC(2026, 11, 1) + n,
  event_properties: { n },
  user_properties: {},
  context: {},
});

// --- stream sync: deliveries, pause, resume, config update, replay, credentials held, continue-as-new
const streamSpec = specFor(config, config.syncs[0]!, env) as StreamSyncSpec;
const stream = await client.workflow.start('streamSyncWorkflow', {
  workflowId: 'stream-sync/replay-stream',
  taskQueue: TASK_QUEUE,
  args: [{ spec: streamSpec, continueAsNewAfterEvents: 150 }],
});
let n = 0;
const append = (count: number) =>
  store.append(
    'web',
    Array.from({ length: count }, () => track(n++)),
  );
const status = () => stream.query(statusQuery);
await append(10);
await until(async () => (await status()).counters.delivered >= 10 || undefined, 'first deliveries');
await stream.signal(pauseSignal);
await until(async () => ((await status()).status === 'paused' ? true : undefined), 'pause');
await append(3);
await stream.signal(resumeSignal);
await until(async () => (await status()).counters.delivered >= 13 || undefined, 'resume');
await stream.executeUpdate(updateConfigUpdate, {
  args: [
    {
      ...streamSpec,
      sync: { ...streamSpec.sync, delivery: { ...streamSpec.sync.delivery, maxRecords: 100 } },
    },
  ],
});
await stream.executeUpdate(setCursorUpdate, { args: [0] });
await until(async () => (await status()).counters.delivered >= 26 || undefined, 'replay');
fake.setCredentials({ trackApiKey: 'rotated' });
await append(2);
await until(
  async () => ((await status()).status === 'credentials_rejected' ? true : undefined),
  'credentials held',
);
fake.setCredentials({ trackApiKey: 'key' });
await until(async () => ((await status()).status === 'running' ? true : undefined), 'credentials fixed');
// Keep it busy until the first run continues as new.
const firstRunId = stream.firstExecutionRunId;
await until(
  async () => {
    await append(1);
    const description = await client.workflow.getHandle(stream.workflowId, firstRunId).describe();
    return description.status.name === 'CONTINUED_AS_NEW' ? true : undefined;
  },
  'continue-as-new',
  120_000,
);
/**
 * A run's history in Temporal's binary protobuf form: what `Worker.runReplayHistory` takes as it
 * is (its JSON form goes through a converter that trips over two copies of protobufjs here).
 */
async function exportHistory(workflowId: string, runId?: string): Promise<Uint8Array> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  return proto.temporal.api.history.v1.History.encode(history).finish();
}
const streamHistory = await exportHistory(stream.workflowId, firstRunId);

// --- cohort sync: a full run, a run now, a run held by rejected credentials and resumed, a run held
// for a large removal and confirmed, and the wait for the cron line
await startSync(client, specFor(config, config.syncs[1]!, env), TASK_QUEUE);
const cohort = client.workflow.getHandle('cohort-sync/replay-cohort');
await until(
  async () => ((await cohort.query(cohortStatusQuery)).lastRun?.runId === '1' ? true : undefined),
  'run 1',
);
await writeFile(cohortFile, 'user_id\nm-2\nm-3\nm-4\n');
await cohort.signal(runNowSignal, {});
await until(
  async () => ((await cohort.query(cohortStatusQuery)).lastRun?.runId === '2' ? true : undefined),
  'run 2',
);
const cohortStatus = () => cohort.query(cohortStatusQuery);
await writeFile(cohortFile, 'user_id\nm-2\nm-3\nm-4\nm-5\n');
fake.setCredentials({ trackApiKey: 'rotated' });
await cohort.signal(runNowSignal, {});
await until(
  async () => ((await cohortStatus()).status === 'credentials_rejected' ? true : undefined),
  'run 3 held',
);
fake.setCredentials({ trackApiKey: 'key' });
await until(async () => ((await cohortStatus()).lastRun?.runId === '3' ? true : undefined), 'run 3 resumed');
await writeFile(cohortFile, 'user_id\nm-9\n');
await cohort.signal(runNowSignal, {});
await until(
  async () => ((await cohortStatus()).status === 'held_large_removal' ? true : undefined),
  'run 4 held',
);
await cohort.signal(runNowSignal, { confirm: true });
await until(
  async () => ((await cohortStatus()).lastRun?.runId === '4' ? true : undefined),
  'run 4 confirmed',
);
await new Promise((r) => setTimeout(r, 1_000));
const cohortHistory = await exportHistory(cohort.workflowId);

const events = (bytes: Uint8Array) => proto.temporal.api.history.v1.History.decode(bytes).events.length;
// Dated, beside the earlier recordings: those are what syncs started by older code look like, and
// they must keep replaying too.
const day = new Date().toISOString().slice(0, 10);
await mkdir(OUT, { recursive: true });
await writeFile(join(OUT, `stream-sync.${day}.history.bin`), streamHistory);
await writeFile(join(OUT, `cohort-sync.${day}.history.bin`), cohortHistory);
process.stdout.write(
  `recorded stream-sync (${events(streamHistory)} events) and cohort-sync (${events(cohortHistory)} events) into ${OUT}\n`,
);

for (const handle of [client.workflow.getHandle(stream.workflowId), cohort])
  await handle.terminate('recorded').catch(() => {});
await worker.shutdown();
await client.connection.close();
await fake.close();
await store.close();
await server.stop();
await rm(dir, { recursive: true, force: true });

import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { downloadExport } from '../src/backfill/export-api.ts';
import { parseHourInput } from '../src/backfill/export-hours.ts';
import { parseConfig } from '../src/config/load.ts';
import {
  backfillInput,
  backfillProgress,
  signalBackfill,
  startBackfill,
  waitForBackfill,
  type BackfillRequest,
} from '../src/control/backfills.ts';
import { backfillWorkflowId } from '../src/workflows/backfill-definitions.ts';
import { exportEvent } from './fakes/amplitude-export-format.ts';
import { startFakeAmplitudeExport, type FakeAmplitudeExport } from './fakes/amplitude-export.ts';
import { runCliInProcess } from './helpers/cli.ts';
import { eventually, startEngine, uniqueId, WORKER_ENV, type TestEngine } from './helpers/engine.ts';

/**
 * The backfill workflow on the dev server against the fake Export API: the CLI with a downloaded
 * zip, a range over 4 GB split, wrong keys, a worker stopped mid-way, pause and resume.
 */

const H0 = parseHourInput('2026-10-01T00');
const HOUR_MS = 3_600_000;
const ROWS_PER_HOUR = 400;

let engine: TestEngine;
let exportApi: FakeAmplitudeExport;
let zipDir: string;

/** ROWS_PER_HOUR rows in each of `hours` upload hours from H0. */
function history(hours: number) {
  return Array.from({ length: hours * ROWS_PER_HOUR }, (_, n) => {
    const time = (H0 + Math.floor(n / ROWS_PER_HOUR)) * HOUR_MS + (n % ROWS_PER_HOUR) * 1000;
    return exportEvent({
      event_type: 'Viewed Page',
      user_id: `user-${n % 50}`,
      $insert_id: `hist-${n}`,
      client_event_time: time,
      server_upload_time: time + 2000,
    });
  });
}

function configYaml(sourceId: string, secretVar = 'AMP_SECRET'): string {
  return `
sources:
  - id: ${sourceId}
    apiKey: \${AMP_KEY}
    secretKey: \${${secretVar}}
    exportUrl: ${exportApi.url}
`;
}

async function run(sourceId: string, request: Omit<BackfillRequest, 'sourceId'>, secretVar?: string) {
  const input = backfillInput(parseConfig(configYaml(sourceId, secretVar)), { sourceId, ...request });
  await startBackfill(engine.client, engine.taskQueue, input);
  return waitForBackfill(engine.client, sourceId, false);
}

const logged = async (sourceId: string) => (await engine.store.readAfter(sourceId, 0, 100_000)).length;

/** The run's history replays on the current workflow code (pause, resume, splits and all). */
async function replays(sourceId: string): Promise<void> {
  const history = await engine.client.workflow.getHandle(backfillWorkflowId(sourceId)).fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history);
}

beforeAll(async () => {
  zipDir = await mkdtemp(join(tmpdir(), 'cio-sync-backfill-zips-'));
  engine = await startEngine({ env: { CIO_SYNC_BACKFILL_DIR: zipDir } });
  exportApi = await startFakeAmplitudeExport({
    projects: [{ apiKey: WORKER_ENV.AMP_KEY, secretKey: WORKER_ENV.AMP_SECRET, events: history(4) }],
    partitionRows: 150,
  });
});
afterAll(async () => {
  await exportApi?.close();
  await engine?.close();
});

describe('cio-sync backfill', () => {
  it('appends a downloaded export zip through the CLI, then shows its status', async () => {
    const source = uniqueId('zip');
    const download = await downloadExport({
      apiKey: WORKER_ENV.AMP_KEY,
      secretKey: WORKER_ENV.AMP_SECRET,
      region: 'us',
      baseUrl: exportApi.url,
      from: H0,
      to: H0 + 1,
      directory: zipDir,
    });
    if (download.kind !== 'zip') throw new Error('the fake answered no zip');
    const configPath = join(zipDir, `${source}.yaml`);
    await writeFile(configPath, configYaml(source));
    const started = await runCliInProcess(engine, [
      '--json',
      'backfill',
      source,
      '-f',
      configPath,
      '--zip',
      download.path,
    ]);
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({
      status: 'completed',
      sourceId: source,
      tally: { records: 2 * ROWS_PER_HOUR, appended: 2 * ROWS_PER_HOUR, duplicates: 0, invalid: 0 },
    });
    expect(await logged(source)).toBe(2 * ROWS_PER_HOUR);
    const status = await runCliInProcess(engine, ['backfill', source, '-f', configPath, '--status']);
    expect(status.stdout).toContain(`backfill/${source} completed`);
    const viaStatus = await runCliInProcess(engine, ['status', `backfill/${source}`]);
    expect(viaStatus.stdout).toContain(`rows ${2 * ROWS_PER_HOUR}: appended ${2 * ROWS_PER_HOUR}`);
    // Not a sync: `list` (and `apply --prune`) leave it alone.
    const list = await runCliInProcess(engine, ['--json', 'list']);
    expect(JSON.stringify(JSON.parse(list.stdout))).not.toContain(`backfill/${source}`);
    // A zip outside the worker's backfill directory is not read.
    const outside = await runCliInProcess(engine, [
      '--json',
      'backfill',
      source,
      '-f',
      configPath,
      '--zip',
      '/etc/passwd',
    ]);
    expect(outside.code).toBe(1);
    expect(JSON.parse(outside.stdout).lastError).toMatch(/outside .*CIO_SYNC_BACKFILL_DIR/);
  });

  it('refuses a malformed hour before anything starts', async () => {
    const source = uniqueId('bad');
    const configPath = join(zipDir, `${source}.yaml`);
    await writeFile(configPath, configYaml(source));
    const result = await runCliInProcess(engine, [
      'backfill',
      source,
      '-f',
      configPath,
      '--from',
      '2026-13-01',
      '--to',
      '2026-10-01T02',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--from: .*2026-13-01/);
  });

  it('splits a range the Export API finds over its size limit, and records empty hours', async () => {
    const source = uniqueId('split');
    exportApi.maxBytes = exportApi.dataBytes(WORKER_ENV.AMP_KEY, H0, H0 + 1) - 1;
    try {
      const done = await run(source, { from: '2026-10-01T00', to: '2026-10-01T05', hoursPerRequest: 6 });
      expect(done).toMatchObject({
        status: 'completed',
        tally: { records: 4 * ROWS_PER_HOUR, appended: 4 * ROWS_PER_HOUR, hours: 6 },
      });
    } finally {
      exportApi.maxBytes = 4e9;
    }
    await replays(source);
    const statuses = exportApi.requests.slice(-6).map((r) => r.status);
    expect(statuses).toContain(400);
    expect(await logged(source)).toBe(4 * ROWS_PER_HOUR);
  });

  it('fails at once, naming the keys, when Amplitude refuses them', async () => {
    const source = uniqueId('keys');
    const done = await run(source, { from: '2026-10-01T00', to: '2026-10-01T01' }, 'AMP_WRONG_SECRET').catch(
      (err: unknown) => err,
    );
    const progress = await backfillProgress(engine.client, source);
    expect(progress.status).toBe('failed');
    expect(progress.lastError).toMatch(/key/i);
    expect(done).toMatchObject({ status: 'failed' });
    expect(await logged(source)).toBe(0);
  });

  it('goes on from where a stopped worker was, reading nothing twice', async () => {
    const source = uniqueId('resume');
    const input = backfillInput(parseConfig(configYaml(source)), {
      sourceId: source,
      from: '2026-10-01T00',
      to: '2026-10-01T03',
      recordsPerSecond: 400,
    });
    await startBackfill(engine.client, engine.taskQueue, input);
    await eventually(async () => (await logged(source)) >= 2 * ROWS_PER_HOUR, 30_000);
    await engine.worker.shutdown();
    await engine.restartWorker();
    const done = await waitForBackfill(engine.client, source, false);
    expect(done.status).toBe('completed');
    expect(await logged(source)).toBe(4 * ROWS_PER_HOUR);
    // Resumed from the heartbeat: every row counted once, none appended twice.
    expect(done.tally).toMatchObject({ records: 4 * ROWS_PER_HOUR, appended: 4 * ROWS_PER_HOUR, hours: 4 });
  });

  it('pauses and resumes', async () => {
    const source = uniqueId('pause');
    const input = backfillInput(parseConfig(configYaml(source)), {
      sourceId: source,
      from: '2026-10-01T00',
      to: '2026-10-01T03',
      hoursPerRequest: 1,
      recordsPerSecond: 800,
    });
    await startBackfill(engine.client, engine.taskQueue, input);
    await eventually(async () => (await logged(source)) >= ROWS_PER_HOUR, 30_000);
    await signalBackfill(engine.client, source, 'pause');
    await eventually(async () => (await backfillProgress(engine.client, source)).status === 'paused', 30_000);
    const atPause = await logged(source);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await logged(source)).toBe(atPause);
    expect(atPause).toBeLessThan(4 * ROWS_PER_HOUR);
    await signalBackfill(engine.client, source, 'resume');
    const done = await waitForBackfill(engine.client, source, false);
    expect(done.status).toBe('completed');
    expect(await logged(source)).toBe(4 * ROWS_PER_HOUR);
    await replays(source);
  });

  it('stops for good when cancelled, and says so', async () => {
    const source = uniqueId('cancel');
    const input = backfillInput(parseConfig(configYaml(source)), {
      sourceId: source,
      from: '2026-10-01T00',
      to: '2026-10-01T03',
      hoursPerRequest: 1,
      recordsPerSecond: 400,
    });
    await startBackfill(engine.client, engine.taskQueue, input);
    await eventually(async () => (await logged(source)) >= ROWS_PER_HOUR, 30_000);
    await signalBackfill(engine.client, source, 'cancel');
    const done = await waitForBackfill(engine.client, source, false);
    expect(done).toMatchObject({ status: 'cancelled', lastError: 'cancelled' });
    const atCancel = await logged(source);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await logged(source)).toBe(atCancel);
    expect(atCancel).toBeLessThan(4 * ROWS_PER_HOUR);
  });
});

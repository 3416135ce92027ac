/**
 * Cohort-sync benchmark: a cohort of N members (default 1,000,000) synced twice — a full first run,
 * then a run with 1 % churn — through the real stack (Temporal dev server, worker, SQLite store, a
 * file source) against a dry-run destination, so the figures are cio-sync's own cost. Memory is
 * sampled during the runs; a second, 10× smaller cohort shows whether it stays flat.
 *
 *   node bench/cohort.ts [--members 1000000]
 *
 * Prints the figures and writes bench/reports/cohort.json.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Client, Connection } from '@temporalio/client';

import { parseConfig } from '../src/config/load.ts';
import { applyConfig, cohortStatus, runCohortNow } from '../src/control/syncs.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { startDevServer } from '../src/temporal/dev-server.ts';
import { startWorker } from '../src/worker.ts';

const { values } = parseArgs({ options: { members: { type: 'string', default: '1000000' } } });
const N = Number(values.members);
const DEADLINE = Date.now() + 20 * 60_000;

async function writeCohort(path: string, count: number, shift: number): Promise<void> {
  const out = createWriteStream(path);
  out.write('user_id\n');
  for (let i = shift; i < count + shift; i++) {
    if (!out.write(`user-${String(i).padStart(8, '0')}\n`))
      await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error) => (err ? reject(err) : resolve())));
}

const dir = await mkdtemp(join(tmpdir(), 'cio-bench-cohort-'));
const server = await startDevServer({ uiPort: false });
const store = await openSqliteStore(join(dir, 'store.db'));
const worker = await startWorker({
  temporalAddress: server.address,
  taskQueue: 'bench-cohort',
  store,
  // The cohort files are written to the temp dir: file sources read only below CIO_SYNC_COHORT_DIR.
  env: { CIO_SYNC_COHORT_DIR: dir },
});
const connection = await Connection.connect({ address: server.address });
const client = new Client({ connection });

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);

async function runOnce(
  syncId: string,
  runId: string,
): Promise<{ seconds: number; peakRssMb: number; summary: unknown }> {
  peakRss = process.memoryUsage().rss;
  const started = Date.now();
  if (runId !== '1') await runCohortNow(client, syncId);
  for (;;) {
    const s = await cohortStatus(client, syncId).catch(() => undefined);
    if (s?.lastRun?.runId === runId && !s.running) {
      return {
        seconds: (Date.now() - started) / 1000,
        peakRssMb: Math.round(peakRss / 1e6),
        summary: s.lastRun,
      };
    }
    if (s?.lastError) throw new Error(s.lastError.message);
    if (Date.now() > DEADLINE) throw new Error('benchmark deadline passed');
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function scenario(members: number) {
  const syncId = `bench-${members}`;
  const path = join(dir, `${syncId}.csv`);
  await writeCohort(path, members, 0);
  const config = parseConfig(`
sources: []
destinations:
  - { id: cio, siteId: s, trackApiKey: "\${CIO_TRACK_API_KEY:-}", appApiKey: "\${CIO_APP_API_KEY:-}", dryRun: true, requestsPerSecond: 1000 }
syncs:
  - { id: ${syncId}, type: cohort, destination: cio, cohort: { from: file, path: "${path}", column: user_id },
      segment: { id: 1 }, cadence: once }
`);
  await applyConfig(client, config, { taskQueue: 'bench-cohort' });
  const full = await runOnce(syncId, '1');
  // 1 % churn: drop the first 0.5 %, add 0.5 % new ids at the end.
  await writeCohort(path, members, Math.round(members * 0.005));
  const churn = await runOnce(syncId, '2');
  const requests = (await store.listCapturedRequests(syncId, { limit: 1_000_000 })).length;
  await client.workflow.getHandle(`cohort-sync/${syncId}`).terminate('benchmark done');
  return { members, full, churn, dryRunRequests: requests };
}

try {
  const small = await scenario(Math.round(N / 10));
  const large = await scenario(N);
  const report = {
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    note: 'peakRssMb is the whole process (worker, SQLite, Temporal client); flat memory = similar peaks at 10× the members',
    small,
    large,
    memoryRatioLargeToSmall: +(large.full.peakRssMb / small.full.peakRssMb).toFixed(2),
  };
  console.log(JSON.stringify(report, null, 2));
  await mkdir('bench/reports', { recursive: true });
  await writeFile('bench/reports/cohort.json', `${JSON.stringify(report, null, 2)}\n`);
} finally {
  clearInterval(sampler);
  await worker.shutdown();
  await connection.close();
  await store.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}

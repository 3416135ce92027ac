/**
 * Cohort-sync benchmark against a Customer.io stand-in: a cohort of N members (default 1,000,000)
 * synced twice — a full first run, then a run with 1 % churn — through the processes `make start`
 * runs (Temporal dev server, a worker with its SQLite store; a file source) and the stand-in of
 * bench/throughput.ts in a process of its own (latency and request limit as parameters), so the
 * figures include Customer.io's cost: segment create/list on the App API, add/remove_customers on
 * the Track API, each answered after the latency, 429 beyond the limit. A 10× smaller cohort first
 * shows whether the worker's memory stays flat.
 *
 *   node bench/cohort.ts [--members 1000000] [--latency 30] [--rps 100] [--app-rps 10]
 *
 * Targets (met / not met in the output, and in bench/reports/cohort.json): the first run within
 * 1.2× of the request budget's floor (N/1000 add requests at --rps), and the 1 % churn run ≤ 4 s.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Client, Connection } from '@temporalio/client';

import { parseConfig } from '../src/config/load.ts';
import { applyConfig, cohortStatus, runCohortNow } from '../src/control/syncs.ts';
import { MAX_SEGMENT_IDS_PER_CALL } from '../src/customerio/limits.ts';
import { bundleWorkflows } from '../src/temporal/bundle.ts';
import { startDevServer } from '../src/temporal/dev-server.ts';
import { ROOT, spawnScript, spawnWorker, stop, usage } from './processes.ts';

const { values } = parseArgs({
  options: {
    members: { type: 'string', default: '1000000' },
    latency: { type: 'string', default: '30' },
    rps: { type: 'string', default: '100' },
    'app-rps': { type: 'string', default: '10' },
  },
});
const N = Number(values.members);
const LATENCY = Number(values.latency);
const RPS = Number(values.rps);
const HARD_DEADLINE = setTimeout(() => {
  process.stderr.write('bench/cohort.ts: hard deadline (20 min) reached\n');
  process.exit(2);
}, 20 * 60_000);
const log = (line: string) => process.stdout.write(`[cohort] ${line}\n`);

async function writeCohort(path: string, count: number, shift: number): Promise<void> {
  const out = createWriteStream(path);
  out.write('user_id\n');
  for (let i = shift; i < count + shift; i++) {
    if (!out.write(`user-${String(i).padStart(8, '0')}\n`))
      await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error) => (err ? reject(err) : resolve())));
}

interface StandinStats {
  requests: number;
  accepted: number;
  rejected429: number;
  firstAt: number;
  lastAt: number;
  maxInFlight: number;
  app: { requests: number; accepted: number; rejected429: number };
  segments: Array<{
    id: number;
    name: string;
    members: number;
    addRequests: number;
    removeRequests: number;
    idsAdded: number;
    idsRemoved: number;
  }>;
}

const dir = await mkdtemp(join(tmpdir(), 'cio-bench-cohort-'));
const cio = await spawnScript(
  'bench/cio-standin.ts',
  ['--latency', String(LATENCY), '--rps', String(RPS), '--app-rps', values['app-rps']],
  {},
  /standin listening at (\S+)/,
);
const cioUrl = cio.match[1]!;
const statsOf = async (): Promise<StandinStats> =>
  (await fetch(`${cioUrl}/stats`)).json() as Promise<StandinStats>;
const temporal = await startDevServer({ uiPort: false, dbFile: join(dir, 'temporal.db') });
const bundlePath = join(dir, 'workflow-bundle.js');
await writeFile(bundlePath, await bundleWorkflows());
const env = {
  CIO_SYNC_STORE: `sqlite:${join(dir, 'store.db')}`,
  TEMPORAL_ADDRESS: temporal.address,
  CIO_SYNC_WORKFLOW_BUNDLE: bundlePath,
  CIO_SYNC_METRICS_PORT: '0',
  // File sources read only below CIO_SYNC_COHORT_DIR; the cohort files are written to the temp dir.
  CIO_SYNC_COHORT_DIR: dir,
  CIO_SITE_ID: 'site',
  CIO_TRACK_API_KEY: 'track-key',
  CIO_APP_API_KEY: 'app-key',
  // The stand-in is on loopback: the worker sends credentials to no other host than these.
  CIO_SYNC_OVERRIDE_HOSTS: '127.0.0.1',
};
const worker = await spawnWorker(env);
const connection = await Connection.connect({ address: temporal.address });
const client = new Client({ connection });

interface RunFigures {
  /** From the trigger to the run showing as done in the sync's status: what a user waits. */
  seconds: number;
  /** From the trigger to the first Track request answered: reading the source, store diff, segment. */
  secondsToFirstRequest: number;
  /** First to last Track request answered (plus one latency): the sending. */
  sendingSeconds: number;
  addRequests: number;
  removeRequests: number;
  trackRequests: number;
  appRequests: number;
  rejected429: number;
  maxInFlight: number;
  segmentMembers: number;
  summary: unknown;
}

async function runOnce(
  syncId: string,
  runId: string,
  segmentName: string,
  trigger: () => Promise<unknown>,
): Promise<RunFigures> {
  await fetch(`${cioUrl}/reset`, { method: 'POST' });
  const started = Date.now();
  await trigger();
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const s = await cohortStatus(client, syncId).catch(() => undefined);
    if (s?.lastRun?.runId === runId && !s.running) {
      const seconds = (Date.now() - started) / 1000;
      const st = await statsOf();
      const segment = st.segments.find((g) => g.name === segmentName);
      return {
        seconds,
        secondsToFirstRequest: st.firstAt ? (st.firstAt - LATENCY - started) / 1000 : 0,
        sendingSeconds: st.firstAt ? (st.lastAt - st.firstAt + LATENCY) / 1000 : 0,
        addRequests: segment?.addRequests ?? 0,
        removeRequests: segment?.removeRequests ?? 0,
        trackRequests: st.accepted,
        appRequests: st.app.accepted,
        rejected429: st.rejected429 + st.app.rejected429,
        maxInFlight: st.maxInFlight,
        segmentMembers: segment?.members ?? 0,
        summary: s.lastRun,
      };
    }
    if (s?.lastError) throw new Error(s.lastError.message);
    if (Date.now() > deadline) throw new Error(`run ${runId} of ${syncId} did not finish in 10 min`);
    // The run's end is seen within this much (a status query is a few ms).
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function scenario(members: number) {
  const syncId = `bench-${members}`;
  const path = join(dir, `${syncId}.csv`);
  await writeCohort(path, members, 0);
  const config = parseConfig(`
sources: []
destinations:
  - { id: cio, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", appApiKey: "\${CIO_APP_API_KEY}",
      trackUrl: "${cioUrl}", appUrl: "${cioUrl}", requestsPerSecond: ${RPS} }
syncs:
  - { id: ${syncId}, type: cohort, destination: cio, cohort: { from: file, path: "${path}", column: user_id },
      segment: { name: "bench ${members}" }, cadence: once }
`);
  log(`${syncId}: first run of ${members} members`);
  const full = await runOnce(syncId, '1', `bench ${members}`, () =>
    applyConfig(client, config, { taskQueue: 'cio-sync', env: { ...process.env, ...env } }),
  );
  log(`${syncId}: first run ${JSON.stringify({ ...full, summary: undefined })}`);
  // 1 % churn: drop the first 0.5 %, add 0.5 % new ids at the end.
  await writeCohort(path, members, Math.round(members * 0.005));
  const churn = await runOnce(syncId, '2', `bench ${members}`, () => runCohortNow(client, syncId));
  log(`${syncId}: churn run ${JSON.stringify({ ...churn, summary: undefined })}`);
  await client.workflow.getHandle(`cohort-sync/${syncId}`).terminate('benchmark done');
  return { members, full, churn, worker: await usage(worker.child.pid) };
}

try {
  const small = await scenario(Math.round(N / 10));
  const large = await scenario(N);
  const floorSeconds = Math.ceil(N / MAX_SEGMENT_IDS_PER_CALL) / RPS;
  const churned = Math.round(N * 0.005);
  const rows: Array<[string, boolean, string]> = [
    [
      `first run of ${N} members ≤ 1.2 × the request floor (${floorSeconds} s)`,
      large.full.seconds <= 1.2 * floorSeconds,
      `${large.full.seconds} s (to first request ${large.full.secondsToFirstRequest} s, sending ${large.full.sendingSeconds} s)`,
    ],
    [
      '1 % churn run ≤ 4 s',
      large.churn.seconds <= 4,
      `${large.churn.seconds} s (to first request ${large.churn.secondsToFirstRequest} s)`,
    ],
    [
      'segment holds exactly the cohort after each run',
      large.full.segmentMembers === N && large.churn.segmentMembers === N,
      `${large.full.segmentMembers}, ${large.churn.segmentMembers}`,
    ],
    [
      'add/remove requests at the 1000-id floor',
      large.full.addRequests === Math.ceil(N / MAX_SEGMENT_IDS_PER_CALL) &&
        large.churn.addRequests + large.churn.removeRequests ===
          2 * Math.ceil(churned / MAX_SEGMENT_IDS_PER_CALL),
      `${large.full.addRequests} adds; churn ${large.churn.addRequests} adds + ${large.churn.removeRequests} removes`,
    ],
    [
      '0 self-inflicted 429s',
      large.full.rejected429 + large.churn.rejected429 === 0,
      `${large.full.rejected429 + large.churn.rejected429}`,
    ],
  ];
  const report = {
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    parameters: { members: N, latencyMs: LATENCY, rps: RPS, appRps: Number(values['app-rps']) },
    note: 'worker.peakRssMb is the worker process (VmHWM) after the scenario; flat memory = similar peaks at 10× the members',
    small,
    large,
    memoryRatioLargeToSmall:
      small.worker && large.worker
        ? +(large.worker.peakRssMb / small.worker.peakRssMb).toFixed(2)
        : undefined,
    targets: rows.map(([target, met, value]) => ({ target, met, value })),
  };
  process.stdout.write('\n');
  for (const [target, met, value] of rows)
    process.stdout.write(`${met ? 'met    ' : 'NOT MET'}  ${target}: ${value}\n`);
  await mkdir(join(ROOT, 'bench/reports'), { recursive: true });
  await writeFile(join(ROOT, 'bench/reports/cohort.json'), `${JSON.stringify(report, null, 2)}\n`);
  log('report: bench/reports/cohort.json');
} finally {
  await connection.close();
  await Promise.all([stop(worker.child), stop(cio.child)]);
  await temporal.stop();
  await rm(dir, { recursive: true, force: true });
  clearTimeout(HARD_DEADLINE);
}

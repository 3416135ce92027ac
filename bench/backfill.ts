/**
 * Backfill throughput and memory, as a user would run it: a 1,000,000-event Amplitude export (24
 * upload hours of realistic export rows, unique insert ids, 10,000 users) served by the fake Export
 * API in a process of its own (bench/amplitude-export.ts), the processes `make start` runs for it
 * (Temporal dev server, the worker with its SQLite store) and `cio-sync backfill` (the CLI, its own
 * process) started against them. Loopback only, bounded in time.
 *
 *   node bench/backfill.ts [--events 1000000] [--hours 24] [--users 10000] [--rate 1000000]
 *     [--phases api,api-again,zip,zip-again]
 *
 * Phases: `api` — `cio-sync backfill bench --from … --to …` through the Export API; `api-again` —
 * the same range again (every hour finished: nothing asked for, nothing appended); `zip` — the same
 * export as a zip the worker reads (`--zip`, below CIO_SYNC_BACKFILL_DIR) into a second source, so
 * the worker's own rate shows without the fake building its answer; `zip-again` — that zip again
 * (no hours to skip: every row read and found in the log). `--rate` is the CLI's (records appended
 * per second at most, default 50,000 there); the benchmark passes 1,000,000 so the pace does not
 * bind. Events/s = rows appended / the workflow's start to its completion; the worker's peak RSS
 * (VmHWM) is taken per phase. Prints the targets (≥ 50,000 events/s, worker RSS < 400 MB) met or
 * not and writes bench/reports/backfill.json. BENCH_WORKER_NODE_OPTIONS profiles the worker alone.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';

import { addHours, exportHourToMs, parseHourInput } from '../src/backfill/export-hours.ts';
import { openStore } from '../src/store/index.ts';
import { bundleWorkflows } from '../src/temporal/bundle.ts';
import { startDevServer } from '../src/temporal/dev-server.ts';
import { backfillWorkflowId, type BackfillProgress } from '../src/workflows/backfill-definitions.ts';
import { resetPeakRss, ROOT, runScript, spawnScript, spawnWorker, stop, usage } from './processes.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    hours: { type: 'string', default: '24' },
    users: { type: 'string', default: '10000' },
    from: { type: 'string', default: '2026-01-01T00' },
    rate: { type: 'string', default: '1000000' },
    phases: { type: 'string', default: 'api,api-again,zip,zip-again' },
  },
});
const EVENTS = Number(values.events);
/** `2026-01-01T05`, the form the CLI takes. */
const hourLabel = (hour: number) => new Date(exportHourToMs(hour)).toISOString().slice(0, 13);
const FROM = hourLabel(parseHourInput(values.from));
const TO = hourLabel(addHours(parseHourInput(values.from), Number(values.hours) - 1));
const PHASES = values.phases.split(',');
const HARD_DEADLINE = setTimeout(() => {
  process.stderr.write('bench/backfill.ts: hard deadline (20 min) reached\n');
  process.exit(2);
}, 20 * 60_000);
/** Others share this machine: its load when the run began goes in the report. */
const LOAD_AT_START = loadavg().map((x) => Math.round(x * 100) / 100);
const log = (line: string) => process.stdout.write(`[backfill] ${line}\n`);

const dir = await mkdtemp(join(tmpdir(), 'cio-bench-backfill-'));
const zipPath = join(dir, 'export.zip');
const KEYS = { AMP_API_KEY: 'amp-api-key', AMP_SECRET_KEY: 'amp-secret-key' };
log(`generating ${EVENTS} export rows (${FROM} … ${TO}) and their zip`);
const exportApi = await spawnScript(
  'bench/amplitude-export.ts',
  [
    ...['--events', String(EVENTS), '--hours', values.hours, '--from', values.from],
    ...['--users', values.users, '--api-key', KEYS.AMP_API_KEY, '--secret-key', KEYS.AMP_SECRET_KEY],
    ...['--zip', zipPath],
  ],
  {},
  /fake export listening at (\S+)/,
  // Every row is held as its line, for the fake to build any range's answer from.
  ['--max-old-space-size=6144'],
  10 * 60_000,
);
for (const line of exportApi.output().trim().split('\n')) log(line);

const temporal = await startDevServer({ uiPort: false, dbFile: join(dir, 'temporal.db') });
const bundlePath = join(dir, 'workflow-bundle.js');
await writeFile(bundlePath, await bundleWorkflows());
const storeUrl = `sqlite:${join(dir, 'store.db')}`;
const configPath = join(dir, 'cio-sync.yaml');
await writeFile(
  configPath,
  `
sources:
  - { id: bench, apiKey: "\${AMP_API_KEY}", secretKey: "\${AMP_SECRET_KEY}", exportUrl: "${exportApi.match[1]}" }
  - { id: bench-zip, apiKey: "\${AMP_API_KEY}", secretKey: "\${AMP_SECRET_KEY}" }
`,
);
const worker = await spawnWorker({
  ...KEYS,
  CIO_SYNC_STORE: storeUrl,
  TEMPORAL_ADDRESS: temporal.address,
  CIO_SYNC_WORKFLOW_BUNDLE: bundlePath,
  CIO_SYNC_METRICS_PORT: '0',
  // Export zips are read only below this directory; the fake Export API is on loopback.
  CIO_SYNC_BACKFILL_DIR: dir,
  CIO_SYNC_OVERRIDE_HOSTS: '127.0.0.1',
});
const pid = worker.child.pid;
/** Read alongside the worker: when the first row of a run reached the log. */
const store = await openStore(storeUrl);
const connection = await Connection.connect({ address: temporal.address });
const client = new Client({ connection });

/**
 * Fails the benchmark when a run's activity fails and is tried again: the workflow would retry for
 * up to 20 attempts, and the figures of a run that needed a retry would not be the ones wanted.
 */
async function failOnRetry(source: string, done: AbortSignal): Promise<never> {
  const handle = client.workflow.getHandle(backfillWorkflowId(source));
  for (;;) {
    await new Promise((r) => setTimeout(r, 2_000));
    if (done.aborted) return new Promise<never>(() => {});
    const pending = await handle.describe().then(
      (d) => d.raw.pendingActivities?.[0],
      (err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      },
    );
    if ((pending?.attempt ?? 1) > 1) {
      throw new Error(
        `backfill/${source}: its activity failed and is tried again (attempt ${pending!.attempt}): ` +
          (pending!.lastFailure?.message ?? 'no message'),
      );
    }
  }
}

interface RunFigures {
  command: string;
  status: string;
  tally: BackfillProgress['tally'];
  /** The workflow's start to its completion. */
  seconds: number;
  /** Rows appended per second over `seconds`. */
  eventsPerSecond: number;
  /** From the workflow's start to the first row in the log: the export asked for, answered, saved. */
  firstAppendAfterSeconds: number | undefined;
  /** Rows appended per second from the first row in the log to the workflow's end. */
  appendEventsPerSecond: number | undefined;
  /** The CLI's own run, from starting it to its exit (it polls the workflow every 500 ms). */
  cliSeconds: number;
  workerPeakRssMb: number | undefined;
  workerCpuSeconds: number | undefined;
}

async function backfill(source: string, args: string[]): Promise<RunFigures> {
  await resetPeakRss(pid);
  const cpuBefore = (await usage(pid))?.cpuSeconds ?? 0;
  const headBefore = await store.headSeq(source);
  let firstAppendAt: number | undefined;
  const sampler = setInterval(() => {
    if (firstAppendAt !== undefined) return;
    void store.headSeq(source).then((head) => {
      if (head > headBefore) firstAppendAt ??= Date.now();
    });
  }, 100);
  const cliArgs = ['backfill', source, '-f', configPath, ...args, '--rate', values.rate];
  const started = Date.now();
  const done = new AbortController();
  const { code, stdout } = await Promise.race([
    runScript('bin/cio-sync.js', ['--json', ...cliArgs], { TEMPORAL_ADDRESS: temporal.address }),
    failOnRetry(source, done.signal),
  ]).finally(() => {
    done.abort();
    clearInterval(sampler);
  });
  const cliSeconds = (Date.now() - started) / 1000;
  if (code !== 0) throw new Error(`cio-sync ${cliArgs.join(' ')} exited ${code}:\n${stdout}`);
  const progress = JSON.parse(stdout) as BackfillProgress;
  const begun = Date.parse(progress.startedAt);
  const ended = Date.parse(progress.finishedAt!);
  const seconds = (ended - begun) / 1000;
  const after = await usage(pid);
  const appended = progress.tally.appended;
  const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
  return {
    command: `cio-sync ${cliArgs.join(' ').replaceAll(dir, '<tmp>')}`,
    status: progress.status,
    tally: progress.tally,
    seconds: round(seconds),
    eventsPerSecond: Math.round(appended / seconds),
    firstAppendAfterSeconds: firstAppendAt === undefined ? undefined : round((firstAppendAt - begun) / 1000),
    appendEventsPerSecond:
      firstAppendAt === undefined ? undefined : Math.round(appended / ((ended - firstAppendAt) / 1000)),
    cliSeconds: round(cliSeconds),
    workerPeakRssMb: after?.peakRssMb,
    workerCpuSeconds: after ? round(after.cpuSeconds - cpuBefore, 1) : undefined,
  };
}

const runs: Record<string, RunFigures> = {};
const phaseArgs: Record<string, [string, string[]]> = {
  api: ['bench', ['--from', FROM, '--to', TO]],
  'api-again': ['bench', ['--from', FROM, '--to', TO]],
  zip: ['bench-zip', ['--zip', zipPath]],
  'zip-again': ['bench-zip', ['--zip', zipPath]],
};
try {
  for (const phase of PHASES) {
    const [source, args] = phaseArgs[phase] ?? [];
    if (!source) throw new Error(`--phases: one of ${Object.keys(phaseArgs).join(', ')}`);
    log(`${phase}: cio-sync backfill ${source} ${args!.join(' ').replaceAll(dir, '<tmp>')}`);
    runs[phase] = await backfill(source, args!);
    log(`${phase}: ${JSON.stringify(runs[phase])}`);
  }
  const logged = {
    bench: await store.countAfter('bench', 0),
    'bench-zip': await store.countAfter('bench-zip', 0),
  };

  const rows: Array<[string, boolean, string]> = [];
  const first = (['api', 'zip'] as const).filter((p) => runs[p]);
  for (const phase of first) {
    const r = runs[phase]!;
    rows.push([
      `${phase}: ≥ 50,000 events/s into the log (start to completion)`,
      r.eventsPerSecond >= 50_000,
      `${r.eventsPerSecond}/s: ${r.tally.appended} in ${r.seconds} s` +
        (r.firstAppendAfterSeconds === undefined
          ? ''
          : ` (first row in the log after ${r.firstAppendAfterSeconds} s, then ${r.appendEventsPerSecond}/s)`),
    ]);
  }
  for (const phase of (['api-again', 'zip-again'] as const).filter((p) => runs[p])) {
    const r = runs[phase]!;
    rows.push([
      `${phase}: the same export again appends 0`,
      r.tally.appended === 0,
      `${r.tally.appended} appended in ${r.seconds} s (${r.tally.duplicates} already in the log, ` +
        `${r.tally.skippedHours} hours finished before)`,
    ]);
  }
  const peak = Math.max(...Object.values(runs).map((r) => r.workerPeakRssMb ?? Infinity));
  rows.push([
    'worker peak RSS < 400 MB',
    peak < 400,
    Object.entries(runs)
      .map(([p, r]) => `${p} ${r.workerPeakRssMb} MB`)
      .join(', '),
  ]);
  const expected = { bench: runs.api ? EVENTS : 0, 'bench-zip': runs.zip ? EVENTS : 0 };
  rows.push([
    'the log holds each exported row once per source',
    logged.bench === expected.bench && logged['bench-zip'] === expected['bench-zip'],
    `bench ${logged.bench}/${expected.bench}, bench-zip ${logged['bench-zip']}/${expected['bench-zip']}`,
  ]);

  const report = {
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version, loadAverageAtStart: LOAD_AT_START },
    parameters: {
      events: EVENTS,
      hours: Number(values.hours),
      range: { from: FROM, to: TO },
      users: Number(values.users),
      ratePassed: Number(values.rate),
      store: 'sqlite',
    },
    export: exportApi.output().trim().split('\n'),
    runs,
    logged,
    worker: await usage(pid),
    targets: rows.map(([target, met, value]) => ({ target, met, value })),
  };
  process.stdout.write('\n');
  for (const [target, met, value] of rows)
    process.stdout.write(`${met ? 'met    ' : 'NOT MET'}  ${target}: ${value}\n`);
  await mkdir(join(ROOT, 'bench/reports'), { recursive: true });
  const file = join(ROOT, 'bench/reports/backfill.json');
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  log(`report: ${file}`);
} finally {
  await connection.close();
  await store.close();
  await Promise.all([stop(worker.child), stop(exportApi.child)]);
  await temporal.stop();
  await rm(dir, { recursive: true, force: true });
  clearTimeout(HARD_DEADLINE);
}

/**
 * Throughput at real Customer.io latency, as a user would measure it: the processes `make start`
 * runs (Temporal dev server, worker, ingest), a load generator and a Customer.io stand-in in
 * processes of their own (latency and request limit as parameters), and in the same run a
 * non-durable direct forwarder as the baseline. Loopback only, bounded in time.
 *
 *   node bench/throughput.ts [--seconds 15] [--lanes auto|N] [--latency 30] [--rps 100]
 *     [--budget-rps 20] [--store sqlite|postgres] [--syncs 100] [--phases baseline,max,steady,budget,many]
 *
 * Phases: baseline at full load; cio-sync at full load; cio-sync at a steady 1,000 events/s
 * (latency); a binding request budget (`--budget-rps`); with `--syncs N`, N stream syncs on one
 * source at 50 events/s. Prints a table with the targets met / not met and writes
 * bench/reports/throughput[-postgres].json.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Client, Connection } from '@temporalio/client';

import { loadConfig } from '../src/config/load.ts';
import { applyConfig, streamStatus } from '../src/control/syncs.ts';
import { openStore } from '../src/store/index.ts';
import { bundleWorkflows } from '../src/temporal/bundle.ts';
import { freePort, startDevServer } from '../src/temporal/dev-server.ts';
import { streamSyncWorkflowId } from '../src/workflows/sync-api.ts';
import { startTestPostgres } from '../test/helpers/postgres.ts';
import {
  resetPeakRss,
  ROOT,
  runLoadgen,
  spawnIngest,
  spawnScript,
  spawnWorker,
  stop,
  usage,
} from './processes.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    lanes: { type: 'string', default: 'auto' },
    latency: { type: 'string', default: '30' },
    rps: { type: 'string', default: '100' },
    'budget-rps': { type: 'string', default: '20' },
    store: { type: 'string', default: 'sqlite' },
    syncs: { type: 'string', default: '0' },
    'many-lanes': { type: 'string', default: 'auto' },
    phases: { type: 'string', default: 'baseline,max,steady,budget,many,retention' },
    'retention-seconds': { type: 'string', default: '120' },
  },
});
const SECONDS = Number(values.seconds);
/** `delivery.lanes` of the benchmark's syncs: the default (`auto`) unless a count is given. */
const LANES = values.lanes === 'auto' ? 'auto' : Number(values.lanes);
const LATENCY = Number(values.latency);
const RPS = Number(values.rps);
const BUDGET_RPS = Number(values['budget-rps']);
const MANY_SYNCS = Number(values.syncs);
/** Which phases run (all by default), e.g. `--phases many --syncs 100` to look at one closely. */
const PHASES = new Set(values.phases.split(','));
/** The log keeps entries for a minute (the shortest `log.retention`) in this run. */
const RETENTION_S = 60;
/** How long the retention phase's steady load lasts. */
const RETENTION_RUN_S = Number(values['retention-seconds']);
const POSTGRES = values.store === 'postgres';
const HARD_DEADLINE = setTimeout(() => {
  process.stderr.write('bench/throughput.ts: hard deadline (20 min) reached\n');
  process.exit(2);
}, 20 * 60_000);

const log = (line: string) => process.stdout.write(`[throughput] ${line}\n`);
const dir = await mkdtemp(join(tmpdir(), 'cio-throughput-'));

const standin = (rps: number) =>
  spawnScript(
    'bench/cio-standin.ts',
    ['--latency', String(LATENCY), '--rps', String(rps)],
    {},
    /standin listening at (\S+)/,
  );

interface StandinStats {
  requests: number;
  accepted: number;
  rejected429: number;
  events: number;
  distinctIds: number;
  firstAt: number;
  lastAt: number;
  latencies: number[];
  perSecond: Record<string, number>;
}
const statsOf = async (url: string): Promise<StandinStats> =>
  (await fetch(`${url}/stats`)).json() as Promise<StandinStats>;
const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
};

/** Waits until the stand-in has `events` events (or the timeout) and returns its stats. */
async function delivered(url: string, events: number, timeoutMs: number): Promise<StandinStats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await statsOf(url);
    if (s.events >= events || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const report: Record<string, unknown> = {
  at: new Date().toISOString(),
  machine: { cores: (await import('node:os')).cpus().length },
  parameters: {
    seconds: SECONDS,
    lanes: LANES,
    latencyMs: LATENCY,
    rps: RPS,
    budgetRps: BUDGET_RPS,
    store: values.store,
  },
};

// --- baseline: the direct forwarder -----------------------------------------------------------------
if (PHASES.has('baseline')) {
  const cio = await standin(RPS);
  const cioUrl = cio.match[1]!;
  const fwd = await spawnScript('bench/forwarder.ts', ['--cio', cioUrl], {}, /forwarder listening at (\S+)/);
  log(`baseline: forwarder → stand-in (${LATENCY} ms, ${RPS}/s), ${SECONDS} s at full load`);
  const result = await runLoadgen(fwd.match[1]!, 'bench-key', { seconds: SECONDS, prefix: 'base' });
  const s = await delivered(cioUrl, result.acked, 30_000);
  report.baseline = {
    deliveredPerSecond: Math.round(s.events / result.seconds),
    acksPerSecond: Math.round(result.acksPerSecond),
    ackMs: result.ackMs,
    requests: s.accepted,
    eventsPerRequest: Math.round(s.events / Math.max(1, s.accepted)),
    rejected429: s.rejected429,
    forwarder: await usage(fwd.child.pid),
  };
  log(`baseline: ${JSON.stringify(report.baseline)}`);
  await stop(fwd.child);
  await stop(cio.child);
}

// --- cio-sync: the processes make start runs ----------------------------------------------------------
const cio = await standin(RPS);
const cioUrl = cio.match[1]!;
const budget = await standin(BUDGET_RPS);
const budgetUrl = budget.match[1]!;
// 100 syncs at 50 events/s each need about 5 requests a second apiece to stay under 250 ms, so they
// get a destination of their own at Customer.io's documented fair-use limit (1,000 requests/s).
const MANY_RPS = 1000;
const many = MANY_SYNCS > 0 ? await standin(MANY_RPS) : undefined;
const manyUrl = many?.match[1] ?? cioUrl;
const postgres = POSTGRES ? await startTestPostgres() : undefined;
const storeUrl = postgres ? postgres.connectionString : `sqlite:${join(dir, 'store.db')}`;
const temporal = await startDevServer({ uiPort: false, dbFile: join(dir, 'temporal.db') });
const bundlePath = join(dir, 'workflow-bundle.js');
await writeFile(bundlePath, await bundleWorkflows());
const ingestPort = await freePort();
const configPath = join(dir, 'cio-sync.yaml');
const manySyncs = Array.from(
  { length: MANY_SYNCS },
  (_, i) => `
  - { id: many-${i}, type: stream, source: many, destination: many, events: { properties: { event: '*' } }, delivery: { lanes: ${values['many-lanes']} } }`,
).join('');
/** The config; the many syncs join it only for their own phase, so they do not weigh on the others. */
const configText = (withMany: boolean) => `
# A short retention, so the run shows the log staying bounded (the default is 7d).
log: { retention: ${RETENTION_S}s }
sources:
  - { id: bench, apiKey: "\${BENCH_KEY}" }
  - { id: budget, apiKey: "\${BUDGET_KEY}" }
  - { id: many, apiKey: "\${MANY_KEY}" }
destinations:
  - { id: cio, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", trackUrl: "${cioUrl}", appUrl: "${cioUrl}", requestsPerSecond: ${RPS} }
  - { id: budget, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", trackUrl: "${budgetUrl}", appUrl: "${budgetUrl}", requestsPerSecond: ${BUDGET_RPS} }
  - { id: many, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", trackUrl: "${manyUrl}", appUrl: "${manyUrl}", requestsPerSecond: ${MANY_RPS} }
syncs:
  - { id: bench-sync, type: stream, source: bench, destination: cio, events: { properties: { event: '*' } }, delivery: { lanes: ${LANES} } }
  - { id: budget-sync, type: stream, source: budget, destination: budget, events: { properties: { event: '*' } }, delivery: { lanes: ${LANES} } }${withMany ? manySyncs : ''}
`;
await writeFile(configPath, configText(false));
const env = {
  CIO_SYNC_STORE: storeUrl,
  CIO_SYNC_CONFIG: configPath,
  TEMPORAL_ADDRESS: temporal.address,
  CIO_SYNC_WORKFLOW_BUNDLE: bundlePath,
  CIO_SYNC_INGEST_PORT: String(ingestPort),
  CIO_SYNC_METRICS_PORT: '0',
  BENCH_KEY: 'bench-key',
  BUDGET_KEY: 'budget-key',
  MANY_KEY: 'many-key',
  CIO_SITE_ID: 'site',
  CIO_TRACK_API_KEY: 'key',
  // The stand-in is on loopback: the worker sends credentials to no other host than these.
  CIO_SYNC_OVERRIDE_HOSTS: '127.0.0.1',
};
const ingest = await spawnIngest(configPath, env);
const worker = await spawnWorker(env);
const ingestUrl = ingest.url;
const connection = await Connection.connect({ address: temporal.address });
const client = new Client({ connection });
await applyConfig(client, await loadConfig(configPath), { taskQueue: 'cio-sync', env });
await new Promise((r) => setTimeout(r, 2_000));

/** The worker's peak RSS in each phase (MB): the peak starts over with every phase. */
const workerRssByPhase: Record<string, number> = {};
const startPhase = () => resetPeakRss(worker.child.pid);
const endPhase = async (phase: string) => {
  const peak = (await usage(worker.child.pid))?.peakRssMb;
  if (peak !== undefined) workerRssByPhase[phase] = peak;
};

if (PHASES.has('max')) {
  await startPhase();
  log(`cio-sync (${values.store}, lanes: ${LANES}): ${SECONDS} s at full load`);
  const started = Date.now();
  const result = await runLoadgen(ingestUrl, 'bench-key', { seconds: SECONDS, prefix: 'max' });
  const s = await delivered(cioUrl, result.acked, 180_000);
  if (s.events === 0) {
    const status = await streamStatus(client, 'bench-sync');
    throw new Error(
      `nothing reached the stand-in: bench-sync is ${status.status} (${status.lastError?.message ?? 'no error'})`,
    );
  }
  const seconds = (s.lastAt - started) / 1000;
  report.maxLoad = {
    deliveredPerSecond: Math.round(s.events / seconds),
    deliveredEvents: s.events,
    acked: result.acked,
    distinctIds: s.distinctIds,
    secondsToDeliverAll: Math.round(seconds * 10) / 10,
    acksPerSecond: Math.round(result.acksPerSecond),
    ackMs: result.ackMs,
    ingestToCioMs: { p50: pct(s.latencies, 0.5), p95: pct(s.latencies, 0.95), p99: pct(s.latencies, 0.99) },
    requests: s.accepted,
    eventsPerRequest: Math.round(s.events / Math.max(1, s.accepted)),
    rejected429: s.rejected429,
  };
  await endPhase('max');
  log(`max load: ${JSON.stringify(report.maxLoad)}`);
}
if (PHASES.has('steady')) {
  await startPhase();
  await fetch(`${cioUrl}/reset`, { method: 'POST' });
  log('cio-sync: steady 1,000 events/s for 10 s');
  const result = await runLoadgen(ingestUrl, 'bench-key', {
    seconds: 10,
    rate: 1000,
    batch: 10,
    connections: 2,
    prefix: 'steady',
  });
  const s = await delivered(cioUrl, result.acked, 60_000);
  report.steady = {
    acked: result.acked,
    delivered: s.events,
    ackMs: result.ackMs,
    // From the event's send time (so it includes the ack) to its arrival at the stand-in.
    ingestToCioMs: { p50: pct(s.latencies, 0.5), p95: pct(s.latencies, 0.95), p99: pct(s.latencies, 0.99) },
    eventsPerRequest: Math.round(s.events / Math.max(1, s.accepted)),
  };
  await endPhase('steady');
  log(`steady: ${JSON.stringify(report.steady)}`);
}
if (PHASES.has('budget')) {
  await startPhase();
  log(`cio-sync: a binding budget of ${BUDGET_RPS} requests/s, ${SECONDS} s`);
  // Half again what the budget can carry at 500 events a request: a backlog all along, and one
  // drained soon after, so it does not linger into the phases after this one.
  const result = await runLoadgen(ingestUrl, 'budget-key', {
    seconds: SECONDS,
    rate: BUDGET_RPS * 500 * 1.5,
    prefix: 'budget',
  });
  await new Promise((r) => setTimeout(r, 3_000));
  const s = await statsOf(budgetUrl);
  // Requests accepted per second while there was a backlog: the seconds after the first whole one.
  const seconds = Object.entries(s.perSecond).filter(([k]) => Number(k) >= 1 && Number(k) < SECONDS);
  const perSecond = seconds.map(([, n]) => n);
  const used = perSecond.length ? perSecond.reduce((a, b) => a + b, 0) / perSecond.length : 0;
  report.budget = {
    acked: result.acked,
    requestsPerSecondUsed: Math.round(used * 10) / 10,
    perSecond,
    budgetUsed: Math.round((used / BUDGET_RPS) * 1000) / 10,
    eventsPerRequest: Math.round(s.events / Math.max(1, s.accepted)),
    rejected429: s.rejected429,
  };
  await endPhase('budget');
  log(`budget: ${JSON.stringify(report.budget)}`);
}
if (PHASES.has('retention')) {
  await startPhase();
  // Steady load long past the retention: the log's entry count must level off, not keep growing.
  log(`log retention (${RETENTION_S} s): steady 500 events/s for ${RETENTION_RUN_S} s, entries sampled`);
  const store = await openStore(storeUrl);
  const entries = async () => {
    let n = 0;
    for (const source of ['bench', 'budget', 'many']) n += await store.countAfter(source, 0);
    return n;
  };
  const samples: Array<{ atSeconds: number; entries: number }> = [];
  const started = Date.now();
  const sample = async () =>
    samples.push({ atSeconds: Math.round((Date.now() - started) / 1000), entries: await entries() });
  await sample();
  const sampler = setInterval(() => void sample(), 10_000);
  const result = await runLoadgen(ingestUrl, 'bench-key', {
    seconds: RETENTION_RUN_S,
    rate: 500,
    batch: 10,
    connections: 1,
    prefix: 'retention',
  });
  clearInterval(sampler);
  await sample();
  await store.close();
  report.retention = {
    retentionSeconds: RETENTION_S,
    acked: result.acked,
    entriesBefore: samples[0]!.entries,
    entriesAfter: samples.at(-1)!.entries,
    peakEntries: Math.max(...samples.map((x) => x.entries)),
    // A retention's worth of entries, plus a pruning interval's (30 s) and a sample's.
    boundEntries: 500 * (RETENTION_S + 30 + 10),
    samples,
  };
  await endPhase('retention');
  log(`retention: ${JSON.stringify(report.retention)}`);
}
/** The many phase's figures; the targets below read them. */
type ManySyncsReport = {
  syncs: number;
  acked: number;
  delivered: number;
  expected: number;
  ingestToCioMs: { p50?: number; p95?: number; p99?: number };
  quiet?: {
    holdingActivityAtLoadEnd: number;
    holdingActivityAfterQuiet: number;
    asleepAfterS: number;
    wakeDelivered: string;
    wakeMs: { p50?: number; max?: number };
  };
  [figure: string]: unknown;
};
let manyReport: ManySyncsReport | undefined;
if (MANY_SYNCS > 0 && PHASES.has('many')) {
  // From their start: the peak of starting 100 syncs belongs to the run.
  await startPhase();
  await writeFile(configPath, configText(true));
  await applyConfig(client, await loadConfig(configPath), { taskQueue: 'cio-sync', env });
  // Their first runs start (and lay out their lanes) before the load does.
  await new Promise((r) => setTimeout(r, 15_000));
  log(`${MANY_SYNCS} stream syncs on one source at 50 events/s for 10 s`);
  const result = await runLoadgen(ingestUrl, 'many-key', {
    seconds: 10,
    rate: 50,
    batch: 1,
    connections: 1,
    prefix: 'many',
  });
  const s = await delivered(manyUrl, result.acked * MANY_SYNCS, 60_000);
  manyReport = report.manySyncs = {
    syncs: MANY_SYNCS,
    acked: result.acked,
    delivered: s.events,
    expected: result.acked * MANY_SYNCS,
    ackMs: result.ackMs,
    ingestToCioMs: { p50: pct(s.latencies, 0.5), p95: pct(s.latencies, 0.95), p99: pct(s.latencies, 0.99) },
    requests: s.accepted,
    requestsPerSecond: Math.round(s.accepted / Math.max(0.001, (s.lastAt - s.firstAt) / 1000)),
    eventsPerRequest: Math.round((s.events / Math.max(1, s.accepted)) * 10) / 10,
    rejected429: s.rejected429,
  };
  // Then quiet: each sync hands its activity slot back and sleeps on the worker's doorbell; one
  // event wakes them all, and its latency is what a burst after a quiet spell costs.
  const holding = async (): Promise<number> => {
    let n = 0;
    for (let i = 0; i < MANY_SYNCS; i++) {
      const d = await client.workflow.getHandle(streamSyncWorkflowId(`many-${i}`)).describe();
      if ((d.raw.pendingActivities ?? []).length > 0) n++;
    }
    return n;
  };
  log('many syncs: quiet until they sleep (six waits of 10 s without a record), then one event');
  const quietFrom = Date.now();
  const holdingAtEnd = await holding();
  let holdingNow = holdingAtEnd;
  while (holdingNow > 0 && Date.now() - quietFrom < 150_000) {
    await new Promise((r) => setTimeout(r, 5_000));
    holdingNow = await holding();
  }
  const asleepAfterS = Math.round((Date.now() - quietFrom) / 1000);
  await fetch(`${manyUrl}/reset`, { method: 'POST' });
  const wake = await runLoadgen(ingestUrl, 'many-key', {
    seconds: 1,
    rate: 1,
    batch: 1,
    connections: 1,
    prefix: 'wake',
  });
  const w = await delivered(manyUrl, wake.acked * MANY_SYNCS, 60_000);
  manyReport.quiet = {
    holdingActivityAtLoadEnd: holdingAtEnd,
    holdingActivityAfterQuiet: holdingNow,
    asleepAfterS,
    wakeDelivered: `${w.events}/${wake.acked * MANY_SYNCS}`,
    wakeMs: { p50: pct(w.latencies, 0.5), max: pct(w.latencies, 1) },
  };
  await endPhase('many');
  log(`many syncs: ${JSON.stringify(report.manySyncs)}`);
}
report.workerPeakRssMbByPhase = workerRssByPhase;
report.processes = {
  worker: await usage(worker.child.pid),
  ingest: await usage(ingest.child.pid),
  temporal: await usage(temporal.process.pid),
  standin: await usage(cio.child.pid),
};
const status = await streamStatus(client, 'bench-sync');
report.benchSync = {
  status: status.status,
  cursor: status.cursor,
  lanes: status.lanes,
  counters: status.counters,
};

// --- targets --------------------------------------------------------------------------------------
type Row = [string, boolean, string];
const max = report.maxLoad as { deliveredPerSecond: number; eventsPerRequest: number } | undefined;
const base = report.baseline as { deliveredPerSecond: number } | undefined;
const steady = report.steady as { ingestToCioMs: { p95?: number } } | undefined;
const budgetRow = report.budget as
  { budgetUsed: number; eventsPerRequest: number; rejected429: number } | undefined;
const workerUsage = (report.processes as { worker?: { peakRssMb: number } }).worker;
const floor = POSTGRES ? 12_000 : 20_000;
const rows: Row[] = [];
if (max)
  rows.push([
    `≥ ${floor} delivered events/s`,
    max.deliveredPerSecond >= floor,
    `${max.deliveredPerSecond}/s`,
  ]);
if (max && base) {
  const ratio = max.deliveredPerSecond / Math.max(1, base.deliveredPerSecond);
  rows.push([
    '≥ 60 % of the direct forwarder',
    ratio >= 0.6,
    `${Math.round(ratio * 100)} % (${base.deliveredPerSecond}/s)`,
  ]);
}
if (steady)
  rows.push([
    'p95 ingest→Customer.io < 100 ms at 1,000 events/s',
    (steady.ingestToCioMs.p95 ?? Infinity) < 100,
    `${steady.ingestToCioMs.p95} ms`,
  ]);
if (budgetRow)
  rows.push(
    ['≥ 90 % of a binding request budget used', budgetRow.budgetUsed >= 90, `${budgetRow.budgetUsed} %`],
    [
      '≥ 400 events per request under backlog',
      budgetRow.eventsPerRequest >= 400,
      `${budgetRow.eventsPerRequest}`,
    ],
    ['0 self-inflicted 429s', budgetRow.rejected429 === 0, `${budgetRow.rejected429}`],
  );
if (report.retention) {
  const r = report.retention as {
    entriesBefore: number;
    entriesAfter: number;
    boundEntries: number;
    acked: number;
  };
  rows.push([
    `log bounded under steady load (retention ${RETENTION_S} s)`,
    r.entriesAfter <= r.boundEntries,
    `${r.entriesBefore} entries before, ${r.entriesAfter} after ${r.acked} more acked (bound ${r.boundEntries})`,
  ]);
}
const phasePeaks = Object.entries(workerRssByPhase);
rows.push([
  'worker peak RSS ≤ 400 MB in each phase',
  phasePeaks.length > 0
    ? phasePeaks.every(([, mb]) => mb <= 400)
    : (workerUsage?.peakRssMb ?? Infinity) <= 400,
  phasePeaks.length > 0
    ? phasePeaks.map(([phase, mb]) => `${phase} ${mb} MB`).join(', ')
    : `${workerUsage?.peakRssMb} MB`,
]);
if (manyReport) {
  const many = manyReport;
  rows.push([
    `${MANY_SYNCS} syncs at 50 events/s: p95 < 250 ms, all delivered`,
    (many.ingestToCioMs.p95 ?? Infinity) < 250 && many.delivered >= many.expected,
    `${many.ingestToCioMs.p95} ms, ${many.delivered}/${many.expected}`,
  ]);
  const quiet = many.quiet;
  if (quiet)
    rows.push([
      'idle syncs do not each hold an activity slot for ever',
      quiet.holdingActivityAfterQuiet === 0,
      `${quiet.holdingActivityAfterQuiet} of ${MANY_SYNCS} hold one after ${quiet.asleepAfterS} s quiet; one event woke them all in ≤ ${quiet.wakeMs.max} ms (${quiet.wakeDelivered} delivered)`,
    ]);
}
report.targets = rows.map(([target, met, value]) => ({ target, met, value }));
process.stdout.write('\n');
for (const [target, met, value] of rows)
  process.stdout.write(`${met ? 'met    ' : 'NOT MET'}  ${target}: ${value}\n`);
await mkdir(join(ROOT, 'bench/reports'), { recursive: true });
const file = join(ROOT, `bench/reports/throughput${POSTGRES ? '-postgres' : ''}.json`);
await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
log(`report: ${file}`);

await connection.close();
await Promise.all([
  stop(worker.child),
  stop(ingest.child),
  stop(cio.child),
  stop(budget.child),
  ...(many ? [stop(many.child)] : []),
]);
await temporal.stop();
await postgres?.stop();
await rm(dir, { recursive: true, force: true });
clearTimeout(HARD_DEADLINE);

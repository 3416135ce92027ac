/**
 * Webhook intake, side by side with the SDK route, in one run: ingest as `make start` runs it (its
 * own process, SQLite store by default) and the load generator in a process of its own, loopback
 * only, each phase bounded in time. The worker and Temporal are not started: an ingest answer is
 * given once the records are committed to the store, which is all that is measured here.
 *
 *   node bench/webhooks.ts [--seconds 10] [--connections 64] [--segment-batch 1000]
 *     [--segment-connections 8] [--store sqlite|postgres]
 *
 * Phases, each after a short warm-up: (c) the SDK route, Amplitude HTTP V2 `/2/httpapi` with one
 * event a request; (a) Amplitude's Webhook destination, one export-format event a request, over as
 * many keep-alive connections; (b) Segment's Webhooks (Actions), batches of `--segment-batch`
 * messages signed over their first payload. Prints requests/s, events/s, ack latency and errors,
 * the targets (webhook single events ≥ 5,000 requests/s, ack p99 < 50 ms) met or not, the ratio of
 * the webhook to the SDK route, and writes bench/reports/webhooks[-postgres].json. With SQLite it
 * also times the store's appendNew alone in a loop on the same disk: the commit each single-event
 * request waits for. BENCH_INGEST_NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) profiles ingest alone.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import type { CanonicalRecord } from '../src/events/record.ts';
import { openStore } from '../src/store/index.ts';
import { startTestPostgres } from '../test/helpers/postgres.ts';
import { resetPeakRss, ROOT, runLoadgen, spawnIngest, stop, usage, type LoadResult } from './processes.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    'segment-batch': { type: 'string', default: '1000' },
    'segment-connections': { type: 'string', default: '8' },
    store: { type: 'string', default: 'sqlite' },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values['warmup-seconds']);
const CONNECTIONS = Number(values.connections);
const SEGMENT_BATCH = Number(values['segment-batch']);
const SEGMENT_CONNECTIONS = Number(values['segment-connections']);
const POSTGRES = values.store === 'postgres';
const HARD_DEADLINE = setTimeout(() => {
  process.stderr.write('bench/webhooks.ts: hard deadline (10 min) reached\n');
  process.exit(2);
}, 10 * 60_000);
/** Others share this machine: its load when the run began goes in the report. */
const LOAD_AT_START = loadavg().map((x) => Math.round(x * 100) / 100);
const log = (line: string) => process.stdout.write(`[webhooks] ${line}\n`);

const SECRETS = { amplitude: 'amp-webhook-secret-0123', segment: 'seg-shared-secret-0123' };
const dir = await mkdtemp(join(tmpdir(), 'cio-bench-webhooks-'));
const postgres = POSTGRES ? await startTestPostgres() : undefined;
const storeUrl = postgres ? postgres.connectionString : `sqlite:${join(dir, 'store.db')}`;
const configPath = join(dir, 'cio-sync.yaml');
await writeFile(
  configPath,
  `
sources:
  - id: amp-sdk
    apiKey: \${AMP_SDK_KEY}
  - id: amp-hook
    apiKey: \${AMP_HOOK_KEY}
    webhooks: { amplitude: { header: X-Webhook-Secret, secret: "\${AMP_HOOK_SECRET}" } }
  - id: seg-hook
    apiKey: \${SEG_KEY}
    webhooks: { segment: { sharedSecret: "\${SEG_HOOK_SECRET}" } }
`,
);
const ingest = await spawnIngest(configPath, {
  CIO_SYNC_STORE: storeUrl,
  CIO_SYNC_INGEST_PORT: '0',
  AMP_SDK_KEY: 'amp-sdk-key',
  AMP_HOOK_KEY: 'amp-hook-key',
  AMP_HOOK_SECRET: SECRETS.amplitude,
  SEG_KEY: 'seg-write-key',
  SEG_HOOK_SECRET: SECRETS.segment,
  NODE_OPTIONS: process.env.BENCH_INGEST_NODE_OPTIONS ?? '',
});
const pid = ingest.child.pid;

interface Phase {
  name: string;
  what: string;
  source: string;
  key: string;
  args: Record<string, string | number>;
}
const phases: Phase[] = [
  {
    name: 'sdk',
    what: `(c) Amplitude HTTP V2 /2/httpapi, 1 event a request, ${CONNECTIONS} connections`,
    source: 'amp-sdk',
    key: 'amp-sdk-key',
    args: { route: 'sdk', batch: 1, connections: CONNECTIONS },
  },
  {
    name: 'amplitudeWebhook',
    what: `(a) /webhooks/amplitude, 1 export-format event a request, ${CONNECTIONS} connections`,
    source: 'amp-hook',
    key: '',
    args: {
      route: 'amplitude-webhook',
      source: 'amp-hook',
      secret: SECRETS.amplitude,
      batch: 1,
      connections: CONNECTIONS,
    },
  },
  {
    name: 'segmentWebhook',
    what: `(b) /webhooks/segment, Actions batches of ${SEGMENT_BATCH}, ${SEGMENT_CONNECTIONS} connections`,
    source: 'seg-hook',
    key: '',
    args: {
      route: 'segment-webhook',
      source: 'seg-hook',
      secret: SECRETS.segment,
      batch: SEGMENT_BATCH,
      connections: SEGMENT_CONNECTIONS,
    },
  },
];

interface PhaseFigures {
  what: string;
  requestsPerSecond: number;
  eventsPerSecond: number;
  ackMs: LoadResult['ackMs'];
  requests: number;
  events: number;
  failed: number;
  errors: Record<string, number>;
  duplicates: number;
  meanBodyBytes: number;
  /** Ingest's CPU time over the phase's wall time: 1.0 is one core busy all along. */
  ingestCpuPerSecond: number;
  ingestPeakRssMb: number | undefined;
}

const figures: Record<string, PhaseFigures> = {};
const ackedBySource: Record<string, number> = {};
for (const phase of phases) {
  const warm = await runLoadgen(ingest.url, phase.key, {
    ...phase.args,
    seconds: WARMUP,
    prefix: `warm-${phase.name}`,
  });
  await resetPeakRss(pid);
  const cpuBefore = (await usage(pid))?.cpuSeconds ?? 0;
  log(`${phase.what}: ${SECONDS} s`);
  const r = await runLoadgen(ingest.url, phase.key, { ...phase.args, seconds: SECONDS, prefix: phase.name });
  const after = await usage(pid);
  ackedBySource[phase.source] = (ackedBySource[phase.source] ?? 0) + warm.acked + r.acked;
  figures[phase.name] = {
    what: phase.what,
    requestsPerSecond: Math.round(r.requestsPerSecond),
    eventsPerSecond: Math.round(r.acksPerSecond),
    ackMs: r.ackMs,
    requests: r.requests,
    events: r.acked,
    failed: r.failed,
    errors: r.errors,
    duplicates: r.duplicates,
    meanBodyBytes: r.meanBodyBytes,
    ingestCpuPerSecond: Math.round((((after?.cpuSeconds ?? 0) - cpuBefore) / r.seconds) * 100) / 100,
    ingestPeakRssMb: after?.peakRssMb,
  };
  log(`${phase.name}: ${JSON.stringify(figures[phase.name])}`);
}

// Every acknowledged event is in the log, once: what the ack promises.
const store = await openStore(storeUrl);
const logged: Record<string, number> = {};
for (const source of Object.keys(ackedBySource)) logged[source] = await store.countAfter(source, 0);
await store.close();

/**
 * What one request's commit costs the SQLite store on this disk, without ingest around it:
 * single-record appendNew calls one after the other (each its own fsync'd transaction, as every
 * request is), and 1,000-record calls for comparison.
 */
async function commitCeiling() {
  const probe = await openStore(`sqlite:${join(dir, 'probe.db')}`);
  const record = (i: number): CanonicalRecord => ({
    kind: 'track',
    origin: 'amplitude',
    event_type: 'Probe',
    time: Date.now(),
    insert_id: `probe-${i}`,
    user_id: `user-${i % 1000}`,
    event_properties: { i },
    user_properties: {},
    context: {},
  });
  let n = 0;
  const measure = async (size: number, seconds: number) => {
    let calls = 0;
    const began = performance.now();
    while (performance.now() - began < seconds * 1000) {
      await probe.appendNew(
        'probe',
        Array.from({ length: size }, () => record(n++)),
      );
      calls++;
    }
    const ms = (performance.now() - began) / calls;
    return { msPerCall: Math.round(ms * 1000) / 1000, recordsPerSecond: Math.round((size * 1000) / ms) };
  };
  const figures = { oneRecord: await measure(1, 3), thousandRecords: await measure(1000, 3) };
  await probe.close();
  return figures;
}
const storeCommit = POSTGRES ? undefined : await commitCeiling();
if (storeCommit) log(`store commit alone: ${JSON.stringify(storeCommit)}`);

const sdk = figures.sdk!;
const hook = figures.amplitudeWebhook!;
const segment = figures.segmentWebhook!;
const ratio = Math.round((hook.requestsPerSecond / Math.max(1, sdk.requestsPerSecond)) * 100) / 100;
const rows: Array<[string, boolean, string]> = [
  [
    'Amplitude webhook, single events: ≥ 5,000 requests/s',
    hook.requestsPerSecond >= 5000,
    `${hook.requestsPerSecond}/s`,
  ],
  ['Amplitude webhook, single events: ack p99 < 50 ms', hook.ackMs.p99 < 50, `${hook.ackMs.p99} ms`],
  [
    'every acknowledged event in the log once, no errors',
    Object.entries(ackedBySource).every(([s, n]) => logged[s] === n) &&
      Object.values(figures).every((f) => f.failed === 0 && f.duplicates === 0),
    Object.entries(ackedBySource)
      .map(([s, n]) => `${s} ${logged[s]}/${n}`)
      .join(', '),
  ],
];
const report = {
  at: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version, loadAverageAtStart: LOAD_AT_START },
  parameters: {
    seconds: SECONDS,
    warmupSeconds: WARMUP,
    connections: CONNECTIONS,
    segmentBatch: SEGMENT_BATCH,
    segmentConnections: SEGMENT_CONNECTIONS,
    store: values.store,
  },
  ...figures,
  webhookToSdkRatio: ratio,
  /** SQLite appendNew called in a loop in this process, on the same disk: a request's commit alone. */
  storeCommit,
  loggedBySource: logged,
  ackedBySource,
  ingest: await usage(pid),
  targets: rows.map(([target, met, value]) => ({ target, met, value })),
};

process.stdout.write('\n');
const table = [
  ['route', 'requests/s', 'events/s', 'ack p50', 'ack p99', 'errors', 'ingest CPU'],
  ...Object.entries(figures).map(([name, f]) => [
    name,
    String(f.requestsPerSecond),
    String(f.eventsPerSecond),
    `${f.ackMs.p50} ms`,
    `${f.ackMs.p99} ms`,
    String(f.failed),
    `${f.ingestCpuPerSecond} cores`,
  ]),
];
for (const row of table) process.stdout.write(`${row.map((c, i) => c.padEnd(i === 0 ? 18 : 12)).join('')}\n`);
process.stdout.write(
  `\nwebhook / SDK route (single events, requests/s): ${ratio}; Segment batches of ${SEGMENT_BATCH}: ` +
    `${segment.eventsPerSecond} events/s\n\n`,
);
if (storeCommit) {
  process.stdout.write(
    `SQLite appendNew alone, on this disk: 1 record ${storeCommit.oneRecord.msPerCall} ms a call ` +
      `(${storeCommit.oneRecord.recordsPerSecond} commits/s at most for single-event requests), ` +
      `1,000 records ${storeCommit.thousandRecords.msPerCall} ms (${storeCommit.thousandRecords.recordsPerSecond} records/s)\n\n`,
  );
}
for (const [target, met, value] of rows)
  process.stdout.write(`${met ? 'met    ' : 'NOT MET'}  ${target}: ${value}\n`);
await mkdir(join(ROOT, 'bench/reports'), { recursive: true });
const file = join(ROOT, `bench/reports/webhooks${POSTGRES ? '-postgres' : ''}.json`);
await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
log(`report: ${file}`);

await stop(ingest.child);
await postgres?.stop();
await rm(dir, { recursive: true, force: true });
clearTimeout(HARD_DEADLINE);

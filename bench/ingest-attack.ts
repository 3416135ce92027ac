/**
 * Ingest under attack: a steady SDK-like load against the real ingest process (node
 * src/ingest/server.ts), first alone, then beside the attack of issue 11 — 17 KB gzip bodies that
 * inflate to megabytes, with a wrong api_key, twenty at a time, round after round, plus clients
 * that trickle their headers or bodies. Everything on loopback, bounded in time.
 *
 *   node bench/ingest-attack.ts [--seconds 20] [--rate 50]
 *
 * Prints the figures against their targets (met / not met) and writes
 * bench/reports/ingest-attack.json:
 *   - ingest peak RSS (the process's VmHWM)            target < 300 MB
 *   - steady load's ack p99 during the attack          target < 200 ms
 *   - its throughput as a ratio of the run without     target ≥ 90 %
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

import { Agent, fetch } from 'undici';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    rate: { type: 'string', default: '50' },
  },
});
const PHASE_MS = Number(values.seconds) * 1000;
/** Steady load: requests per second, each carrying 10 events, alternating Amplitude and Segment. */
const RATE = Number(values.rate);
const KEY = 'bench-attack-key';
const BOMBS_PER_ROUND = 40;
const BOMBS_AT_ONCE = 20;
const SLOW_CLIENTS = 40;

const TARGETS = { peakRssMb: 300, ackP99Ms: 200, throughputRatio: 0.9 };

const percentile = (xs: number[], p: number) =>
  xs.length === 0
    ? 0
    : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- The ingest process -----------------------------------------------------------------------

const dir = await mkdtemp(join(tmpdir(), 'cio-bench-attack-'));
const configPath = join(dir, 'cio-sync.yaml');
await writeFile(configPath, 'sources:\n  - id: bench\n    apiKey: ${BENCH_KEY}\n');
const child = spawn(process.execPath, ['src/ingest/server.ts', '--config', configPath], {
  env: {
    PATH: process.env.PATH,
    BENCH_KEY: KEY,
    CIO_SYNC_STORE: `sqlite:${join(dir, 'store.db')}`,
    CIO_SYNC_INGEST_PORT: '0',
    LOG_LEVEL: 'info',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise<string>((resolve, reject) => {
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    let msg: string;
    try {
      msg = String((JSON.parse(line) as { msg?: unknown }).msg ?? '');
    } catch {
      return;
    }
    const match = /ingest listening at (http:\/\/\S+)/.exec(msg);
    if (match) resolve(match[1]!);
  });
  child.once('exit', (code) => reject(new Error(`ingest exited (${code}) before listening`)));
});
// However this script ends, the ingest process goes with it.
process.once('exit', () => child.kill('SIGKILL'));
const { port } = new URL(url);

async function rssMb(field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

// --- Steady load: SDK-like batches at a fixed rate -----------------------------------------------

const steadyAgent = new Agent({ connections: 32, pipelining: 1 });
let seq = 0;
function steadyRequest(): { path: string; headers: Record<string, string>; body: string; events: number } {
  const n = seq++;
  const time = Date.now();
  if (n % 2 === 0) {
    const events = Array.from({ length: 10 }, (_, i) => ({
      event_type: 'Viewed Item',
      user_id: `user-${n % 500}`,
      device_id: `device-${n % 500}`,
      time,
      insert_id: `amp-${n}-${i}`,
      event_properties: { item: `sku-${i}`, price: 10 + i },
      library: 'amplitude-node/1.5.73',
    }));
    return {
      path: '/2/httpapi',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: KEY, events, options: {} }),
      events: 10,
    };
  }
  const batch = Array.from({ length: 10 }, (_, i) => ({
    type: 'track',
    event: 'Viewed Item',
    userId: `user-${n % 500}`,
    messageId: `seg-${n}-${i}`,
    timestamp: new Date(time).toISOString(),
    properties: { item: `sku-${i}`, price: 10 + i },
    context: { library: { name: '@segment/analytics-node', version: '3.1.0' } },
  }));
  return {
    path: '/v1/batch',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`,
    },
    body: JSON.stringify({ batch, sentAt: new Date(time).toISOString() }),
    events: 10,
  };
}

interface SteadyResult {
  sent: number;
  acked: number;
  failed: Record<string, number>;
  eventsAcked: number;
  latencies: number[];
  seconds: number;
}

/** Sends at RATE per second for PHASE_MS (open loop, as SDKs flush on a timer), then waits for the answers. */
async function steadyLoad(): Promise<SteadyResult> {
  const result: SteadyResult = { sent: 0, acked: 0, failed: {}, eventsAcked: 0, latencies: [], seconds: 0 };
  const started = performance.now();
  const interval = 1000 / RATE;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; performance.now() - started < PHASE_MS; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const req = steadyRequest();
    const t0 = performance.now();
    result.sent++;
    inFlight.push(
      fetch(`${url}${req.path}`, {
        method: 'POST',
        headers: req.headers,
        body: req.body,
        dispatcher: steadyAgent,
      })
        .then(async (res) => {
          await res.arrayBuffer();
          if (res.status === 200) {
            result.acked++;
            result.eventsAcked += req.events;
            result.latencies.push(performance.now() - t0);
          } else {
            result.failed[res.status] = (result.failed[res.status] ?? 0) + 1;
          }
        })
        .catch((err: Error) => {
          result.failed[err.name] = (result.failed[err.name] ?? 0) + 1;
        }),
    );
  }
  await Promise.all(inFlight);
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

// --- The attack ----------------------------------------------------------------------------------

/**
 * ~17 KB of gzip that inflates to 17 MB (one event whose property is a run of one letter, which
 * deflate compresses about 1000:1); the wrong key first (as the SDKs order the fields) or last.
 */
function bomb(keyFirst: boolean): Buffer {
  const events = `[{"event_type":"x","user_id":"attacker-0000","event_properties":{"p":"${'a'.repeat(17 * 1024 * 1024)}"}}]`;
  const json = keyFirst
    ? `{"api_key":"wrong-key","events":${events}}`
    : `{"events":${events},"api_key":"wrong-key"}`;
  return gzipSync(json, { level: 9 });
}
const bombs = [bomb(true), bomb(false)];
const inflated = 17 * 1024 * 1024;

interface AttackResult {
  bombs: number;
  statuses: Record<string, number>;
  rejectMs: number[];
  slowConnections: number;
  slowClosedByServer: number;
  slowLongestMs: number;
}

async function attack(until: number): Promise<AttackResult> {
  const result: AttackResult = {
    bombs: 0,
    statuses: {},
    rejectMs: [],
    slowConnections: 0,
    slowClosedByServer: 0,
    slowLongestMs: 0,
  };
  const agent = new Agent({ connections: BOMBS_AT_ONCE });
  const one = async (i: number) => {
    const t0 = performance.now();
    result.bombs++;
    try {
      const res = await fetch(`${url}${i % 4 === 3 ? '/batch' : '/2/httpapi'}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: bombs[i % 2]!,
        dispatcher: agent,
      });
      await res.arrayBuffer();
      result.statuses[res.status] = (result.statuses[res.status] ?? 0) + 1;
    } catch (err) {
      result.statuses[(err as Error).name] = (result.statuses[(err as Error).name] ?? 0) + 1;
    }
    result.rejectMs.push(performance.now() - t0);
  };
  const bombing = (async () => {
    for (let round = 0; Date.now() < until; round++) {
      for (let start = 0; start < BOMBS_PER_ROUND && Date.now() < until; start += BOMBS_AT_ONCE) {
        await Promise.all(
          Array.from({ length: BOMBS_AT_ONCE }, (_, j) => one(round * BOMBS_PER_ROUND + start + j)),
        );
      }
    }
  })();
  // Slow clients: half trickle their headers, half announce a 20 MB body and trickle it; each
  // comes straight back when ingest cuts it.
  const sockets = new Set<Socket>();
  let stopping = false;
  const slow = (i: number) => {
    if (Date.now() >= until) return;
    result.slowConnections++;
    const opened = performance.now();
    const socket = connect(Number(port), '127.0.0.1');
    sockets.add(socket);
    let timer: NodeJS.Timeout | undefined;
    let ours = false;
    socket.on('connect', () => {
      const headers = i % 2 === 0;
      socket.write(
        headers
          ? 'POST /batch HTTP/1.1\r\nHost: x\r\n'
          : `POST /batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${20 * 1024 * 1024}\r\n\r\n{"api_key":"`,
      );
      timer = setInterval(() => {
        if (Date.now() >= until) {
          ours = true;
          socket.destroy();
          return;
        }
        socket.write(headers ? 'X-Slow: y\r\n' : 'a');
      }, 1000);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      sockets.delete(socket);
      const lived = performance.now() - opened;
      result.slowLongestMs = Math.max(result.slowLongestMs, lived);
      if (!ours && !stopping) {
        result.slowClosedByServer++;
        slow(i); // and come straight back
      }
    });
  };
  for (let i = 0; i < SLOW_CLIENTS; i++) slow(i);
  await bombing;
  while (Date.now() < until) await sleep(100);
  stopping = true;
  for (const socket of sockets) socket.destroy();
  await agent.close();
  return result;
}

// --- Run ---------------------------------------------------------------------------------------

let peakSampled = 0;
const sampler = setInterval(() => {
  rssMb('VmRSS').then(
    (mb) => (peakSampled = Math.max(peakSampled, mb)),
    () => {},
  );
}, 100);

try {
  const idleRssMb = await rssMb('VmRSS');
  process.stdout.write(`ingest at ${url} (pid ${child.pid}), ${idleRssMb} MB RSS idle\n`);
  process.stdout.write(`baseline: ${RATE} requests/s × 10 events for ${PHASE_MS / 1000}s…\n`);
  // Warm the JIT and the store before measuring.
  for (let i = 0; i < 20; i++) {
    const req = steadyRequest();
    await fetch(`${url}${req.path}`, { method: 'POST', headers: req.headers, body: req.body });
  }
  const baseline = await steadyLoad();
  const baselineHwm = await rssMb('VmHWM');
  process.stdout.write(
    `attack: rounds of ${BOMBS_PER_ROUND} × ${(bombs[0]!.length / 1024).toFixed(1)} KB gzip (→ ${inflated / 1024 / 1024} MB) with a wrong api_key, ${BOMBS_AT_ONCE} at a time, and ${SLOW_CLIENTS} slow clients, beside the same load…\n`,
  );
  const until = Date.now() + PHASE_MS;
  const [underAttack, attackResult] = await Promise.all([steadyLoad(), attack(until)]);
  await sleep(300);
  const peakRssMb = Math.max(await rssMb('VmHWM'), peakSampled);

  const throughput = (r: SteadyResult) => r.eventsAcked / r.seconds;
  const ratio = throughput(underAttack) / throughput(baseline);
  const p99 = percentile(underAttack.latencies, 99);
  const figures = {
    peakRssMb: { value: peakRssMb, target: `< ${TARGETS.peakRssMb} MB`, met: peakRssMb < TARGETS.peakRssMb },
    ackP99Ms: {
      value: Math.round(p99 * 10) / 10,
      target: `< ${TARGETS.ackP99Ms} ms`,
      met: p99 < TARGETS.ackP99Ms,
    },
    throughputRatio: {
      value: Math.round(ratio * 1000) / 1000,
      target: `>= ${TARGETS.throughputRatio * 100} %`,
      met: ratio >= TARGETS.throughputRatio,
    },
  };
  const summarize = (r: SteadyResult) => ({
    requestsSent: r.sent,
    requestsAcked: r.acked,
    failed: r.failed,
    eventsPerSecond: Math.round(throughput(r)),
    ackP50Ms: Math.round(percentile(r.latencies, 50) * 10) / 10,
    ackP99Ms: Math.round(percentile(r.latencies, 99) * 10) / 10,
    ackMaxMs: Math.round(Math.max(0, ...r.latencies) * 10) / 10,
  });
  const report = {
    command: `node bench/ingest-attack.ts --seconds ${PHASE_MS / 1000} --rate ${RATE}`,
    at: new Date().toISOString(),
    phaseSeconds: PHASE_MS / 1000,
    steadyRate: { requestsPerSecond: RATE, eventsPerRequest: 10 },
    ingest: { idleRssMb, baselinePeakRssMb: baselineHwm, peakRssMb },
    baseline: summarize(baseline),
    underAttack: summarize(underAttack),
    attack: {
      bombs: attackResult.bombs,
      bombBytes: bombs.map((b) => b.length),
      bombInflatedBytes: inflated,
      statuses: attackResult.statuses,
      answerP50Ms: Math.round(percentile(attackResult.rejectMs, 50) * 10) / 10,
      answerP99Ms: Math.round(percentile(attackResult.rejectMs, 99) * 10) / 10,
      slowConnections: attackResult.slowConnections,
      slowClosedByServer: attackResult.slowClosedByServer,
      slowLongestMs: Math.round(attackResult.slowLongestMs),
    },
    figures,
  };
  await mkdir('bench/reports', { recursive: true });
  await writeFile('bench/reports/ingest-attack.json', `${JSON.stringify(report, null, 2)}\n`);
  const line = (name: string, f: { value: number; target: string; met: boolean }, unit: string) =>
    `  ${name.padEnd(34)} ${String(f.value).padStart(8)} ${unit.padEnd(3)} (target ${f.target}): ${f.met ? 'met' : 'NOT MET'}\n`;
  process.stdout.write(
    [
      '',
      `baseline       ${report.baseline.eventsPerSecond} events/s, ack p50 ${report.baseline.ackP50Ms} ms, p99 ${report.baseline.ackP99Ms} ms`,
      `under attack   ${report.underAttack.eventsPerSecond} events/s, ack p50 ${report.underAttack.ackP50Ms} ms, p99 ${report.underAttack.ackP99Ms} ms, failed ${JSON.stringify(underAttack.failed)}`,
      `attack         ${attackResult.bombs} bombs answered ${JSON.stringify(attackResult.statuses)} (p99 ${report.attack.answerP99Ms} ms); ${attackResult.slowConnections} slow connections, ${attackResult.slowClosedByServer} closed by ingest, longest ${report.attack.slowLongestMs} ms`,
      '',
      line('ingest peak RSS', figures.peakRssMb, 'MB') +
        line('steady ack p99 under attack', figures.ackP99Ms, 'ms') +
        line('steady throughput vs. no attack', figures.throughputRatio, '×'),
      'wrote bench/reports/ingest-attack.json',
      '',
    ].join('\n'),
  );
  process.exitCode = Object.values(figures).every((f) => f.met) ? 0 : 1;
} finally {
  clearInterval(sampler);
  await steadyAgent.close();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await rm(dir, { recursive: true, force: true });
}

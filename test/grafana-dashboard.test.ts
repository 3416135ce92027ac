/**
 * The Grafana dashboard and the monitoring services of docker-compose.yml, checked as data (no
 * Docker engine here): every metric a query names is one the code registers — names and labels
 * collected from a real WorkerMetrics registry and from the ingest app's own GET /metrics, never
 * from a list kept by hand — every exported metric is on the dashboard, and the files compose
 * mounts exist and point at each other. Renaming a metric or a label fails here, not in Grafana.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildIngestApp } from '../src/ingest/app.ts';
import { createIngestMetrics, createMetricsRegistry, WorkerMetrics } from '../src/metrics.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/store.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const read = (path: string) => readFileSync(resolve(ROOT, path), 'utf8');

interface Target {
  expr: string;
  legendFormat?: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; datasource?: { uid: string }; query: { query: string } }> };
}

const DASHBOARD_DIR = 'deploy/grafana/dashboards';
const dashboard = JSON.parse(read(`${DASHBOARD_DIR}/cio-sync.json`)) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));

/** Series name → its label names, as Prometheus would store them after a scrape. */
type Exported = Map<string, Set<string>>;

/** Names and types from the text exposition format (`# TYPE name type`). */
function typesIn(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(match[1]!, match[2]!);
  return types;
}

/**
 * The series a registry's metrics become: a histogram is `_bucket` (with `le`), `_sum` and
 * `_count`. Prometheus adds `job` and `instance` to every series it scrapes.
 */
function seriesOf(text: string, labelsOf: (name: string) => string[]): Exported {
  const series: Exported = new Map();
  for (const [name, type] of typesIn(text)) {
    const labels = new Set([...labelsOf(name), 'job', 'instance']);
    if (type === 'histogram') {
      series.set(`${name}_bucket`, new Set([...labels, 'le']));
      series.set(`${name}_sum`, labels);
      series.set(`${name}_count`, labels);
    } else {
      series.set(name, labels);
    }
  }
  return series;
}

function labelsFrom(registry: ReturnType<typeof createMetricsRegistry>) {
  const byName = new Map(
    registry.getMetricsAsArray().map((m) => {
      const metric = m as unknown as { name: string; labelNames?: string[] };
      return [metric.name, metric.labelNames ?? []];
    }),
  );
  return (name: string) => byName.get(name) ?? [];
}

let store: Store;
let exported: Exported;
/** What the engine exports beyond Node's process metrics: what the dashboard must show. */
let engineMetrics: string[];

beforeAll(async () => {
  const worker = new WorkerMetrics();
  const workerText = await worker.registry.metrics();

  store = await openSqliteStore(':memory:');
  const ingestMetrics = createIngestMetrics();
  const app = buildIngestApp({ store, sources: [{ id: 'web', apiKey: 'key' }], metrics: ingestMetrics });
  const response = await app.inject({ method: 'GET', url: '/metrics' });
  await app.close();
  expect(response.statusCode).toBe(200);

  exported = new Map([
    ...seriesOf(workerText, labelsFrom(worker.registry)),
    ...seriesOf(response.body, labelsFrom(ingestMetrics.registry)),
  ]);
  const processOnly = typesIn(await createMetricsRegistry().metrics());
  engineMetrics = [...typesIn(workerText).keys(), ...typesIn(response.body).keys()].filter(
    (name) => !processOnly.has(name),
  );
});
afterAll(async () => {
  await store?.close();
});

/** Metric names of a PromQL expression: label values and range durations taken out first. */
function metricsIn(expr: string): string[] {
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\[[^\]]*\]/g, '');
  return [...new Set(bare.match(/\bcio_sync_[A-Za-z0-9_:]*/g) ?? [])];
}

/** Labels an expression groups by, matches on, or a legend prints. */
function labelsIn(expr: string, legend = ''): string[] {
  const labels = new Set<string>();
  for (const m of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g))
    for (const l of m[1]!.split(',')) if (l.trim()) labels.add(l.trim());
  for (const m of expr.matchAll(/\{([^}]*)\}/g))
    for (const matcher of m[1]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g))
      labels.add(matcher[1]!);
  for (const m of legend.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)) labels.add(m[1]!);
  return [...labels];
}

describe('deploy/grafana/dashboards/cio-sync.json', () => {
  it('names in every query only metrics the code registers, each query at least one', () => {
    expect(queries.length).toBeGreaterThan(10);
    const unknown = queries.flatMap(({ panel, expr }) =>
      metricsIn(expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${panel}: ${name}`),
    );
    expect(unknown).toEqual([]);
    const empty = queries.filter(({ expr }) => metricsIn(expr).length === 0).map((q) => q.panel);
    expect(empty).toEqual([]);
  });

  it('groups, filters and labels only by labels those metrics carry', () => {
    const wrong = queries.flatMap(({ panel, expr, legendFormat }) => {
      const has = new Set(metricsIn(expr).flatMap((name) => [...(exported.get(name) ?? [])]));
      return labelsIn(expr, legendFormat)
        .filter((label) => !has.has(label))
        .map((label) => `${panel}: ${label}`);
    });
    expect(wrong).toEqual([]);
  });

  it('shows every metric the engine exports (beyond Node’s process metrics)', () => {
    const used = new Set(
      queries.flatMap(({ expr }) => metricsIn(expr).map((name) => name.replace(/_(bucket|sum|count)$/, ''))),
    );
    expect(engineMetrics.length).toBeGreaterThan(10);
    expect(engineMetrics.filter((name) => !used.has(name))).toEqual([]);
    // The must-haves, by the metrics that carry them.
    for (const name of [
      'cio_sync_records_delivered_total',
      'cio_sync_ingest_records_total',
      'cio_sync_stream_lag_records',
      'cio_sync_customerio_responses_total',
      'cio_sync_customerio_request_duration_seconds',
      'cio_sync_records_dead_lettered_total',
      'cio_sync_cohort_ids_added_total',
      'cio_sync_sync_state',
      'cio_sync_sync_failing_attempts',
    ])
      expect(used, name).toContain(name);
  });

  it('filters by a sync variable that lists a label the metrics carry', () => {
    const [variable] = dashboard.templating.list;
    expect(variable).toMatchObject({ name: 'sync', query: { query: 'label_values(sync)' } });
    expect([...exported.values()].some((labels) => labels.has('sync'))).toBe(true);
    // Every per-sync query honours it.
    const perSync = queries.filter(({ expr }) => /\bby \([^)]*\bsync\b/.test(expr));
    expect(perSync.length).toBeGreaterThan(5);
    expect(perSync.filter(({ expr }) => !expr.includes('sync=~"$sync"')).map((q) => q.panel)).toEqual([]);
  });

  it('queries the provisioned data source in every panel and target', () => {
    const datasource = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: Array<{ uid: string; type: string; url: string }>;
    };
    const [prometheus] = datasource.datasources;
    const uids = new Set([
      ...panels.map((p) => p.datasource?.uid),
      ...queries.map((q) => q.datasource?.uid),
      ...dashboard.templating.list.map((v) => v.datasource?.uid),
    ]);
    expect([...uids]).toEqual([prometheus!.uid]);
    expect(prometheus!.type).toBe('prometheus');
  });
});

describe('docker-compose.yml monitoring', () => {
  interface Service {
    image?: string;
    command?: string[];
    volumes?: string[];
    environment?: Record<string, string>;
    depends_on?: Record<string, unknown>;
  }
  const services = (
    parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> }
  ).services;
  /** `host:container[:ro]` → host path (relative to the repository) and container path. */
  const mounts = (service: Service) =>
    (service.volumes ?? [])
      .map((v) => v.split(':'))
      .filter(([host]) => host!.startsWith('./'))
      .map(([host, target]) => ({ host: host!, target: target! }));

  it('mounts the dashboard and provisioning that exist, where the provisioning looks for them', () => {
    const grafana = services.grafana!;
    const grafanaMounts = mounts(grafana);
    expect(grafanaMounts).toEqual([
      { host: './deploy/grafana/provisioning', target: '/etc/grafana/provisioning' },
      { host: './deploy/grafana/dashboards', target: '/var/lib/grafana/dashboards' },
    ]);
    for (const { host } of grafanaMounts) expect(existsSync(resolve(ROOT, host)), host).toBe(true);

    const provider = parse(read('deploy/grafana/provisioning/dashboards/cio-sync.yml')) as {
      providers: Array<{ type: string; options: { path: string } }>;
    };
    const path = provider.providers[0]!.options.path;
    const dashboards = grafanaMounts.find((m) => m.target === path);
    expect(dashboards?.host).toBe(`./${DASHBOARD_DIR}`);
    expect(readdirSync(resolve(ROOT, DASHBOARD_DIR))).toContain('cio-sync.json');
    // The home page is the mounted dashboard file.
    const home = grafana.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!;
    expect(home.startsWith(`${path}/`)).toBe(true);
    expect(existsSync(resolve(ROOT, DASHBOARD_DIR, home.slice(path.length + 1)))).toBe(true);
    expect(readdirSync(resolve(ROOT, 'deploy/grafana/provisioning'))).toEqual(['dashboards', 'datasources']);
  });

  it('points Grafana at the Prometheus service, which scrapes every ingest and worker port', () => {
    const datasource = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: Array<{ url: string }>;
    };
    expect(datasource.datasources[0]!.url).toBe('http://prometheus:9090');
    expect(services.grafana!.depends_on).toEqual({ prometheus: { condition: 'service_healthy' } });

    const prometheus = services.prometheus!;
    const [config] = mounts(prometheus);
    expect(config).toEqual({
      host: './deploy/prometheus/prometheus.yml',
      target: '/etc/prometheus/prometheus.yml',
    });
    expect(prometheus.command).toContain(`--config.file=${config!.target}`);
    const scrape = parse(read(config!.host)) as {
      scrape_configs: Array<{ job_name: string; dns_sd_configs: Array<{ names: string[]; port: number }> }>;
    };
    const targets = scrape.scrape_configs.map((c) => [c.dns_sd_configs[0]!.names, c.dns_sd_configs[0]!.port]);
    expect(targets).toEqual([
      [['ingest'], Number(services.ingest!.environment!.CIO_SYNC_INGEST_PORT)],
      [['worker'], Number(services.worker!.environment!.CIO_SYNC_METRICS_PORT)],
    ]);
    // Workers must listen beyond loopback for a scrape from another container to reach them.
    expect(services.worker!.environment!.CIO_SYNC_METRICS_HOST).toBe('0.0.0.0');
  });
});

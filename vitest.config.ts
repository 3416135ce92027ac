import { availableParallelism } from 'node:os';

import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

/**
 * The suite in tiers, one vitest project each; `npm test` (and `make test`) runs them all, one tier
 * after the other (sequence.groupOrder), fastest first. `npm run test:<tier>` runs one.
 *
 * - unit: no Temporal, no PostgreSQL, no spawned servers; seconds. The inner loop.
 * - workflow: workflow code on a Temporal worker without the dev server (replayed histories).
 * - integration: the real dev server and real stores (SQLite, one PostgreSQL server per run); as
 *   many files at once as the machine has cores.
 * - system: whole processes: `make start`, the Web UI in Chromium, the scaled multi-process test,
 *   shutdown, fuzzing; one file at a time.
 *
 * A new file under test/unit/ is a unit test and any other under test/ an integration test unless
 * listed below. The servers a run needs are started once by test/global-setup.ts, for the tiers in it.
 */
const UNIT_TEST = [
  'test/activities/**/*.test.ts',
  'test/fakes/**/*.test.ts',
  'test/ingest/{http,hostile,webhooks,amplitude-deletions,amplitude-sdk,segment-sdk}.test.ts',
  'test/deploy-files.test.ts',
  'test/grafana-dashboard.test.ts',
  'test/lint-import-cycle.test.ts',
  'test/readme-layout.test.ts',
  'test/docs.test.ts',
];
const UNIT = ['test/unit/**/*.test.ts', ...UNIT_TEST];
const WORKFLOW = ['test/replay.test.ts', 'test/workflows/**/*.test.ts'];
const SYSTEM = [
  'test/start.test.ts',
  'test/webui.test.ts',
  'test/scaled.test.ts',
  'test/shutdown.test.ts',
  'test/fuzz-delivery.test.ts',
  'test/ingest/fuzz.test.ts',
];
const INTEGRATION = ['test/**/*.test.ts'];

const cores = availableParallelism();

function tier(
  name: string,
  order: number,
  include: string[],
  exclude: string[],
  { maxWorkers, isolate = true }: { maxWorkers: number; isolate?: boolean },
): TestProjectInlineConfiguration {
  return {
    test: {
      name,
      include,
      exclude: ['**/node_modules/**', ...exclude],
      // Temporal's native bridge is not safe in worker threads (sdk-typescript#876): use processes.
      pool: 'forks',
      maxWorkers,
      isolate,
      sequence: { groupOrder: order },
      testTimeout: 60_000,
      hookTimeout: 120_000,
    },
  };
}

export default defineConfig({
  test: {
    // One Temporal dev server, one workflow bundle and one PostgreSQL server per run, for the
    // tiers in it.
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      // A unit file leaves nothing behind, so its worker takes the next file with the modules it
      // has loaded: a fresh process per file would spend more time importing than testing.
      tier('unit', 0, UNIT, [], { maxWorkers: cores, isolate: false }),
      tier('workflow', 1, WORKFLOW, [], { maxWorkers: cores }),
      tier('integration', 2, INTEGRATION, [...UNIT, ...WORKFLOW, ...SYSTEM], { maxWorkers: cores }),
      tier('system', 3, SYSTEM, [], { maxWorkers: 1 }),
    ],
  },
});

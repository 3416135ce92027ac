import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cohortStatus } from '../src/control/syncs.ts';
import { eventually, startEngine, uniqueId, type TestEngine } from './helpers/engine.ts';
import { runCliInProcess } from './helpers/cli.ts';

let engine: TestEngine;

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCliInProcess(engine, args, env);

beforeAll(async () => {
  engine = await startEngine();
});
afterAll(async () => {
  await engine?.close();
});

describe('cio-sync CLI with cohort syncs', () => {
  it('apply starts a cohort sync; run --wait reruns it and ends with the summary; status shows the counters', async () => {
    const syncId = uniqueId('cli-cohort');
    const members = join(engine.dir, `${syncId}.csv`);
    await writeFile(members, 'id\na\nb\n');
    for (const id of ['a', 'b', 'c']) engine.fake.seedPerson({ id });
    const file = join(engine.dir, `${syncId}.yaml`);
    // Written as YAML text: a parsed config (cadence as an object) is not config-file input.
    await writeFile(
      file,
      `
sources: []
destinations:
  - { id: cio, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", appApiKey: "\${CIO_APP_API_KEY}",
      trackUrl: "${engine.fake.url}", appUrl: "${engine.fake.url}" }
syncs:
  - id: ${syncId}
    type: cohort
    destination: cio
    cohort: { from: file, path: ${members} }
    segment: { name: CLI ${syncId} }
    cadence: once
`,
    );

    expect(JSON.parse((await cli(['--json', 'apply', '-f', file])).stdout).steps).toEqual([
      { syncId, actions: ['start'] },
    ]);
    await eventually(async () => (await cohortStatus(engine.client, syncId)).lastRun?.runId === '1');

    await writeFile(members, 'id\nb\nc\n');
    const run = await cli(['run', syncId, '--wait']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${syncId} (cohort → cio)`);
    expect(run.stdout).toContain('last run 2');
    expect(run.stdout).toContain('members 2, added 1, removed 1, skipped 0');

    const status = JSON.parse((await cli(['--json', 'status', syncId])).stdout);
    expect(status).toMatchObject({
      syncId,
      type: 'cohort',
      status: 'running',
      running: false,
      lastRun: { runId: '2', members: 2, added: 1, removed: 1, skipped: 0, unknown: 0 },
      counters: { runs: 2, added: 3, removed: 1, skipped: 0 },
    });
    expect(status.nextRunAt).toBeUndefined();

    // `run` on a stream-less id is a clear not-found.
    const missing = await cli(['run', 'no-such-sync']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('no running sync "no-such-sync"');
  });
});

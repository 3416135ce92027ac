import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { streamStatus } from '../src/control/syncs.ts';
import type { CanonicalRecord } from '../src/events/record.ts';
import { eventually, startEngine, testConfig, uniqueId, type TestEngine } from './helpers/engine.ts';
import { runCliInProcess } from './helpers/cli.ts';
import { ROOT } from './helpers/processes.ts';

let engine: TestEngine;

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCliInProcess(engine, args, env);

beforeAll(async () => {
  engine = await startEngine();
});
afterAll(async () => {
  await engine?.close();
});

describe('cio-sync CLI', () => {
  it('validate: exit 0 for the example, exit 2 with file:line:column and field for a bad file', async () => {
    const ok = await cli(['validate', '-f', join(ROOT, 'examples/cio-sync.yaml')]);
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toContain('is valid: 1 source(s), 1 destination(s), 1 sync(s)');

    const bad = join(engine.dir, 'bad.yaml');
    await writeFile(bad, 'sources:\n  - id: web\n    apiKey: plain-text-key\nsyncs: []\n');
    const res = await cli(['validate', '-f', bad]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      `${bad}:3:13: sources[0].apiKey: expected a \${ENV_VAR} reference (no :-default): secrets are read from the environment, never written in the config`,
    );
  });

  it('validate and apply: exit 2 for what the worker in that environment will refuse, each at its line with the setting that allows it', async () => {
    const syncId = uniqueId('refused');
    const file = join(engine.dir, `${syncId}.yaml`);
    await writeFile(
      file,
      `sources: [{ id: web, apiKey: "\${WEB_API_KEY}" }]
destinations:
  - id: acc
    siteId: "\${CIO_SITE_ID}"
    trackApiKey: "\${ACC_TRACK_KEY}"
    trackUrl: http://cio.example.com:8080
syncs:
  - { id: ${syncId}, type: stream, source: web, destination: acc }
`,
    );
    const settings = { CIO_SYNC_DESTINATION_VARIABLES: 'CIO_SITE_ID', CIO_SYNC_OVERRIDE_HOSTS: '' };
    const refused = [
      `${file}:5: destination acc trackApiKey: the worker does not resolve \${ACC_TRACK_KEY} in a destination field (allow it with CIO_SYNC_DESTINATION_VARIABLES=CIO_SITE_ID,ACC_TRACK_KEY)`,
      `${file}:6: destination acc trackUrl override "cio.example.com:8080" is not allowed by this worker: credentials go only to the region hosts unless CIO_SYNC_OVERRIDE_HOSTS lists the host (allow it with CIO_SYNC_OVERRIDE_HOSTS=cio.example.com:8080)`,
    ];
    for (const command of [['validate'], ['apply'], ['apply', '--dry-run']]) {
      const res = await cli([...command, '-f', file], settings);
      expect(res.code, command.join(' ')).toBe(2);
      for (const line of refused) expect(res.stderr).toContain(line);
    }
    expect((await cli(['status', syncId])).code).toBe(3);

    // Allowed, but unset here: a warning (the worker may have it), not a refusal.
    const allowed = {
      CIO_SYNC_DESTINATION_VARIABLES: 'CIO_SITE_ID,ACC_TRACK_KEY',
      CIO_SYNC_OVERRIDE_HOSTS: 'cio.example.com:8080',
      CIO_SITE_ID: 'site',
    };
    const ok = await cli(['validate', '-f', file], allowed);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain(
      `${file}:5: warning: environment variable ACC_TRACK_KEY (for destination acc trackApiKey) is not set here: the worker needs it in its own environment`,
    );
    const plan = await cli(['--json', 'apply', '-f', file, '--dry-run'], allowed);
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout)).toEqual({ dryRun: true, steps: [{ syncId, actions: ['start'] }] });
  });

  it('apply --dry-run plans, apply starts, then status/pause/resume/dead-letters/requests work by sync id', async () => {
    const source = uniqueId('src');
    const syncId = uniqueId('cli');
    const file = join(engine.dir, `${syncId}.yaml`);
    const config = testConfig(
      engine.fake,
      `
  - id: ${syncId}
    type: stream
    source: ${source}
    destination: cio
    delivery: { waitFor: 1s }`,
      { sources: [source] },
    );
    // Round-trip through YAML so the CLI reads a real file.
    const { stringify } = await import('yaml');
    await writeFile(file, stringify(config));

    const plan = await cli(['--json', 'apply', '-f', file, '--dry-run']);
    expect(JSON.parse(plan.stdout)).toEqual({ dryRun: true, steps: [{ syncId, actions: ['start'] }] });
    expect((await cli(['status', syncId])).code).toBe(3);

    expect(JSON.parse((await cli(['--json', 'apply', '-f', file])).stdout).steps).toEqual([
      { syncId, actions: ['start'] },
    ]);
    expect(JSON.parse((await cli(['--json', 'apply', '-f', file])).stdout).steps).toEqual([
      { syncId, actions: ['unchanged'] },
    ]);

    const record: CanonicalRecord = {
      kind: 'track',
      origin: 'segment',
      event_type: 'Clicked',
      user_id: `u-${'x'.repeat(200)}`,
      time: Date.UTC(2026, 10, 1),
      event_properties: {},
      user_properties: {},
      context: {},
    };
    const [seq] = await engine.store.append(source, [record]);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === seq);

    const status = JSON.parse((await cli(['--json', 'status', syncId])).stdout);
    expect(status).toMatchObject({
      syncId,
      status: 'running',
      cursor: seq,
      lag: 0,
      counters: { deadLettered: 1 },
    });

    const letters = await cli(['dead-letters', syncId]);
    expect(letters.stdout).toContain(`seq ${seq}`);
    expect(letters.stdout).toContain('identifier_too_long');

    expect((await cli(['pause', syncId])).stdout.trim()).toBe(`${syncId} paused`);
    await eventually(async () => (await streamStatus(engine.client, syncId)).status === 'paused');
    const list = JSON.parse((await cli(['--json', 'list'])).stdout) as Array<{
      syncId: string;
      status: string;
    }>;
    expect(list.find((s) => s.syncId === syncId)?.status).toBe('paused');
    expect((await cli(['resume', syncId])).code).toBe(0);
    await eventually(async () => (await streamStatus(engine.client, syncId)).status === 'running');

    expect(await cli(['requests', syncId])).toMatchObject({
      code: 0,
      stdout: `no recorded requests for ${syncId}\n`,
    });
  });

  it('check verifies a destination against Customer.io with the secrets of its environment', async () => {
    const file = join(engine.dir, 'check.yaml');
    await writeFile(
      file,
      `
sources: []
destinations:
  - { id: cio, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", appApiKey: "\${CIO_APP_API_KEY}",
      trackUrl: "${engine.fake.url}", appUrl: "${engine.fake.url}", region: us }
  - { id: eu, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", trackUrl: "${engine.fake.url}", region: eu }
syncs: []
`,
    );
    const env = { CIO_SITE_ID: 'site-1', CIO_TRACK_API_KEY: 'track-key-1', CIO_APP_API_KEY: 'app-key-1' };
    const good = await cli(['--json', 'check', 'cio', '-f', file], env);
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({
      destination: 'cio',
      ok: true,
      track: { ok: true, region: 'us' },
      app: { ok: true },
    });

    const wrongKey = await cli(['check', 'cio', '-f', file], { ...env, CIO_TRACK_API_KEY: 'nope' });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toMatch(/Track API: failed/);
    expect(wrongKey.stdout).not.toContain('nope');

    const region = await cli(['check', 'eu', '-f', file], env);
    expect(region.code).toBe(1);
    expect(region.stdout).toContain('the credentials belong to the us region, but the destination says eu');

    const unknown = await cli(['check', 'nowhere', '-f', file], env);
    expect(unknown.code).toBe(3);
  });

  it('reset moves the stored cursor: back to a seq (the records are sent again), or to the head', async () => {
    const source = uniqueId('src');
    const syncId = uniqueId('cli-reset');
    await engine.apply(
      testConfig(
        engine.fake,
        `
  - id: ${syncId}
    type: stream
    source: ${source}
    destination: cio
    delivery: { waitFor: 1s }`,
        { sources: [source] },
      ),
    );
    const user = uniqueId('u');
    const record = (n: number): CanonicalRecord => ({
      kind: 'track',
      origin: 'segment',
      event_type: `Reset ${n}`,
      user_id: user,
      insert_id: `${user}/${n}`,
      time: Date.UTC(2026, 10, 1) + n,
      event_properties: {},
      user_properties: {},
      context: {},
    });
    const seqs = await engine.store.append(source, [record(1), record(2)]);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === seqs[1]);
    const sent = () =>
      engine.fake.requestsTo('/api/v2/batch').filter((r) => JSON.stringify(r.body).includes(user));
    expect(sent()).toHaveLength(1);

    const usage = await cli(['reset', syncId]);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain('reset needs exactly one of --to <seq>, --beginning, --head');

    const back = await cli(['reset', syncId, '--to', String(seqs[0]! - 1)]);
    expect(back).toMatchObject({ code: 0, stdout: `${syncId}: cursor ${seqs[1]} → ${seqs[0]! - 1}\n` });
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === seqs[1]);
    expect(sent()).toHaveLength(2);
    expect(await engine.store.getStreamCursor(syncId)).toBe(seqs[1]);

    const [later] = await engine.store.append(source, [record(3)]);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === later);
    const head = await cli(['--json', 'reset', syncId, '--head']);
    expect(JSON.parse(head.stdout)).toMatchObject({ syncId, cursor: await engine.store.headSeq(source) });
  });

  it('explains an unreachable Temporal server instead of printing a stack', async () => {
    const res = await cli(['status', 'anything'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error: cannot reach Temporal at 127\.0\.0\.1:1/);
  });
});

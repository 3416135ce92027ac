import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { StreamSync, StreamSyncSpec } from '../src/config/schema.ts';
import type { CanonicalRecord } from '../src/events/record.ts';
import { pauseSync, resumeSync, specFor, streamStatus } from '../src/control/syncs.ts';
import {
  SyncIdAttribute,
  configQuery,
  streamSyncWorkflowId,
  updateConfigUpdate,
} from '../src/workflows/sync-api.ts';
import {
  eventually,
  startEngine,
  startWithConfigUpdate,
  testConfig,
  uniqueId,
  type TestEngine,
} from './helpers/engine.ts';

function track(
  userId: string,
  event: string,
  time: number,
  extra: Partial<CanonicalRecord> = {},
): CanonicalRecord {
  return {
    kind: 'track',
    origin: 'amplitude',
    event_type: event,
    user_id: userId,
    insert_id: `${userId}-${event}-${time}`,
    time,
    event_properties: { plan: 'pro' },
    user_properties: {},
    context: {},
    ...extra,
  };
}

/** History JSON with every payload's data decoded, so assertions read what Temporal stored. */
function decodedHistory(history: unknown): string {
  const decode = (value: unknown, key?: string): unknown => {
    if (key === 'data' && typeof value === 'string') return Buffer.from(value, 'base64').toString('utf8');
    if (Array.isArray(value)) return value.map((v) => decode(v));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v, k)]));
    }
    return value;
  };
  return JSON.stringify(decode(JSON.parse(JSON.stringify(history))));
}

function syncYaml(id: string, source: string, extra = ''): string {
  return `
  - id: ${id}
    name: Test sync ${id}
    type: stream
    source: ${source}
    destination: cio
    events:
      properties: { event: '*' }
    delivery: { waitFor: 2s, lanes: 1 }
${extra}`;
}

describe('stream sync on a real Temporal dev server', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startEngine();
  });
  afterAll(async () => {
    await engine?.close();
  });

  it('starts from apply, is findable by its search attributes, and delivers records to Customer.io', async () => {
    const syncId = uniqueId('wiring');
    const config = testConfig(engine.fake, syncYaml(syncId, 'web'));
    const steps = await engine.apply(config);
    expect(steps).toEqual([{ syncId, actions: ['start'] }]);

    const t = Date.UTC(2026, 10, 1, 12, 0, 0, 250);
    await engine.store.append('web', [
      track('user-1', 'Signed Up', t),
      track('user-2', 'Purchase', t + 1000),
    ]);

    await eventually(() => engine.fake.events.length >= 2);
    const batch = engine.fake.requests.find((r) => r.path === '/api/v2/batch');
    expect(batch?.headers.authorization).toBe(
      `Basic ${Buffer.from('site-1:track-key-1').toString('base64')}`,
    );
    expect((batch?.body as { batch: unknown[] }).batch).toEqual([
      {
        type: 'person',
        action: 'event',
        identifiers: { id: 'user-1' },
        name: 'Signed Up',
        id: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/),
        timestamp: Math.floor(t / 1000),
        attributes: { plan: 'pro' },
      },
      {
        type: 'person',
        action: 'event',
        identifiers: { id: 'user-2' },
        name: 'Purchase',
        id: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/),
        timestamp: Math.floor(t / 1000) + 1,
        attributes: { plan: 'pro' },
      },
    ]);

    const status = await eventually(async () => {
      const s = await streamStatus(engine.client, syncId);
      return s.cursor === 2 ? s : undefined;
    });
    expect(status).toMatchObject({
      status: 'running',
      cursor: 2,
      lag: 0,
      counters: { delivered: 2, deadLettered: 0 },
    });

    // The Web UI lists workflows through the visibility query it offers: find ours by attribute.
    const found = await eventually(async () => {
      for await (const wf of engine.client.workflow.list({ query: `${SyncIdAttribute.name} = "${syncId}"` }))
        return wf;
      return undefined;
    });
    expect(found.workflowId).toBe(streamSyncWorkflowId(syncId));
    expect(found.searchAttributes).toMatchObject({
      CioSyncId: [syncId],
      CioSyncType: ['stream'],
      CioSyncStatus: ['running'],
      CioDestination: ['cio'],
    });
    expect(await found.memo).toEqual({ name: `Test sync ${syncId}`, source: 'web' });

    // No secret reaches Temporal: not in the input, not in the history.
    const history = decodedHistory(
      await engine.client.workflow.getHandle(streamSyncWorkflowId(syncId)).fetchHistory(),
    );
    expect(history).not.toContain('track-key-1');
    expect(history).toContain('${CIO_TRACK_API_KEY}');
  });

  it('keeps its cursor while paused and catches up on resume', async () => {
    const syncId = uniqueId('pause');
    await engine.apply(testConfig(engine.fake, syncYaml(syncId, 'app'), { sources: ['app'] }));
    await pauseSync(engine.client, syncId);
    await eventually(async () => {
      const s = await streamStatus(engine.client, syncId);
      return s.status === 'paused' && !s.delivering;
    });
    const user = uniqueId('paused-user');
    const [seq] = await engine.store.append('app', [track(user, 'While Paused', Date.now())]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(engine.fake.events.filter((e) => e.identifier?.value === user)).toEqual([]);
    const paused = await streamStatus(engine.client, syncId);
    expect(paused.status).toBe('paused');
    expect(paused.cursor).toBe(0);

    await resumeSync(engine.client, syncId);
    await eventually(() => engine.fake.events.some((e) => e.identifier?.value === user));
    const resumed = await eventually(async () => {
      const s = await streamStatus(engine.client, syncId);
      return s.cursor === seq ? s : undefined;
    });
    expect(resumed.status).toBe('running');
  });

  it('shows the pause in the CioSyncStatus search attribute', async () => {
    const syncId = uniqueId('visible');
    await engine.apply(testConfig(engine.fake, syncYaml(syncId, 'shown'), { sources: ['shown'] }));
    await pauseSync(engine.client, syncId);
    const query = `${SyncIdAttribute.name} = "${syncId}" AND CioSyncStatus = "paused"`;
    const found = await eventually(async () => {
      for await (const wf of engine.client.workflow.list({ query })) return wf;
      return undefined;
    });
    expect(found.workflowId).toBe(streamSyncWorkflowId(syncId));
  });

  it('rejects an invalid config update before it reaches history, and applies a valid one', async () => {
    const syncId = uniqueId('update');
    const config = testConfig(engine.fake, syncYaml(syncId, 'upd'), { sources: ['upd'] });
    await engine.apply(config);
    const handle = engine.client.workflow.getHandle(streamSyncWorkflowId(syncId));
    // Sent at once: a fresh sync has its update handlers while its spec check runs.
    const spec = { sync: config.syncs[0] as StreamSync, destination: config.destinations[0]! };
    const rejected = await handle
      .executeUpdate(updateConfigUpdate, { args: [{ ...spec, sync: { ...spec.sync, id: 'another-sync' } }] })
      .then(
        () => undefined,
        (err: Error) => err,
      );
    expect(rejected?.name).toBe('WorkflowUpdateFailedError');
    expect((rejected?.cause as Error | undefined)?.message).toBe(
      `sync id cannot change (${syncId} → another-sync)`,
    );
    const history = decodedHistory(await handle.fetchHistory());
    expect(history).not.toContain('another-sync');

    const changed = { ...spec, sync: { ...spec.sync, identifier: 'user_properties.email' } };
    await expect(handle.executeUpdate(updateConfigUpdate, { args: [changed] })).resolves.toEqual({
      accepted: true,
    });
    expect((await handle.query(configQuery)).sync.identifier).toBe('user_properties.email');
  });

  it('takes a config update that reaches it with its start, while its spec check runs', async () => {
    // Update-with-start puts the update in the sync's first workflow task: before the handlers were
    // set ahead of the check, it found none ("No registered handler").
    const syncId = uniqueId('first-update');
    const config = testConfig(engine.fake, syncYaml(syncId, 'first'), { sources: ['first'] });
    const spec = specFor(config, config.syncs[0]!, engine.env) as StreamSyncSpec;
    const changed = { ...spec, sync: { ...spec.sync, identifier: 'user_properties.email' } };
    const { answer, handle } = await startWithConfigUpdate(engine, spec, changed);
    expect(answer).toEqual({ accepted: true });
    expect((await handle.query(configQuery)).sync.identifier).toBe('user_properties.email');
    await handle.terminate('test done');
  });
});

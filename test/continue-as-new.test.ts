import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { StreamSyncSpec } from '../src/config/schema.ts';
import { specFor, streamStatus } from '../src/control/syncs.ts';
import type { CanonicalRecord } from '../src/events/record.ts';
import {
  SyncIdAttribute,
  pauseSignal,
  resumeSignal,
  streamSyncWorkflowId,
} from '../src/workflows/sync-api.ts';
import type { streamSyncWorkflow } from '../src/workflows/stream-sync.ts';
import { eventually, startEngine, testConfig, uniqueId, type TestEngine } from './helpers/engine.ts';

function track(user: string, i: number): CanonicalRecord {
  return {
    kind: 'track',
    origin: 'amplitude',
    event_type: `Step ${i}`,
    user_id: user,
    insert_id: `${user}-${i}`,
    time: Date.UTC(2026, 10, 1) + i,
    event_properties: {},
    user_properties: {},
    context: {},
  };
}

describe('continue-as-new', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startEngine();
  });
  afterAll(async () => {
    await engine?.close();
  });

  it('carries cursor, counters and pause state into the next run, losing no signal', async () => {
    const source = uniqueId('src');
    const syncId = uniqueId('can');
    const config = testConfig(
      engine.fake,
      `
  - id: ${syncId}
    type: stream
    source: ${source}
    destination: cio
    delivery: { waitFor: 200ms, maxRecords: 2 }`,
      { sources: [source] },
    );
    const spec = specFor(config, config.syncs[0]!) as StreamSyncSpec;
    // A low threshold stands in for Temporal's continueAsNewSuggested (4096 events by default).
    const handle = await engine.client.workflow.start<typeof streamSyncWorkflow>('streamSyncWorkflow', {
      workflowId: streamSyncWorkflowId(syncId),
      taskQueue: engine.taskQueue,
      args: [{ spec, continueAsNewAfterEvents: 20 }],
      typedSearchAttributes: [{ key: SyncIdAttribute, value: syncId }],
    });
    const firstRun = handle.firstExecutionRunId;
    const user = uniqueId('u');
    const seqs = await engine.store.append(
      source,
      Array.from({ length: 12 }, (_, i) => track(user, i)),
    );
    // Signals sent while runs roll over are kept: pause then resume, several times.
    for (let i = 0; i < 3; i++) {
      await handle.signal(pauseSignal);
      await handle.signal(resumeSignal);
    }
    const status = await eventually(async () => {
      const s = await streamStatus(engine.client, syncId);
      return s.cursor === seqs.at(-1) ? s : undefined;
    }, 30_000);
    expect(status).toMatchObject({ status: 'running', counters: { delivered: 12 } });
    const description = await engine.client.workflow.getHandle(streamSyncWorkflowId(syncId)).describe();
    expect(description.runId).not.toBe(firstRun);
    expect(engine.fake.events.filter((e) => e.identifier?.value === user).map((e) => e.name)).toEqual(
      Array.from({ length: 12 }, (_, i) => `Step ${i}`),
    );

    // The pause state survives a rollover too.
    await handle.signal(pauseSignal);
    await eventually(async () => {
      const s = await streamStatus(engine.client, syncId);
      return s.status === 'paused' && !s.delivering;
    });
    const later = await engine.store.append(source, [track(user, 99)]);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await streamStatus(engine.client, syncId)).cursor).toBe(seqs.at(-1));
    await handle.signal(resumeSignal);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === later[0]);
  });
});

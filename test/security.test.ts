import { createServer, type IncomingMessage, type Server } from 'node:http';

import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { CanonicalRecord } from '../src/events/record.ts';
import type { StreamSyncSpec } from '../src/config/schema.ts';
import { pauseSync, resumeSync, streamStatus } from '../src/control/syncs.ts';
import { streamSyncWorkflowId, updateConfigUpdate } from '../src/workflows/sync-api.ts';
import {
  eventually,
  startEngine,
  testConfig,
  uniqueId,
  WORKER_ENV,
  type TestEngine,
} from './helpers/engine.ts';

/**
 * An operator with Temporal access but not the worker's environment tries to pull secrets out:
 * redirect a sync's credentials to a listener of theirs, read another variable through a secret
 * field, or start a sync by hand that does both. The worker's policy and the workflow validators
 * must refuse every one, and the listener must receive nothing.
 */

const SECRET = 'db-password-do-not-leak';

function track(userId: string, time: number): CanonicalRecord {
  return {
    kind: 'track',
    origin: 'amplitude',
    event_type: 'Secured',
    user_id: userId,
    insert_id: `${userId}-${time}`,
    time,
    event_properties: {},
    user_properties: {},
    context: {},
  };
}

async function failure(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err?.name).toBe('WorkflowUpdateFailedError');
  return ((err as Error).cause as Error).message;
}

describe('secrets an operator with Temporal access cannot pull out', () => {
  let engine: TestEngine;
  let listener: Server;
  let listenerUrl = '';
  const received: IncomingMessage[] = [];

  beforeAll(async () => {
    engine = await startEngine();
    listener = createServer((req, res) => {
      received.push(req);
      res.end('{}');
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const address = listener.address();
    listenerUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    // The worker allows the fake Customer.io's host:port as an override, not any port on loopback,
    // and has a variable it must never send anywhere.
    await engine.worker.shutdown();
    await engine.restartWorker({
      ...WORKER_ENV,
      CIO_SYNC_OVERRIDE_HOSTS: new URL(engine.fake.url).host,
      SECRET_DB_PASSWORD: SECRET,
    });
  });
  afterAll(async () => {
    await engine?.close();
    await new Promise((resolve) => listener?.close(resolve));
  });

  it('refuses an update that redirects the credentials or widens the spec; the listener gets nothing', async () => {
    const syncId = uniqueId('redirect');
    const source = uniqueId('sec');
    const config = testConfig(
      engine.fake,
      `
  - id: ${syncId}
    type: stream
    source: ${source}
    destination: cio
    delivery: { waitFor: 1s }
`,
      { sources: [source] },
    );
    await engine.apply(config);
    const spec: StreamSyncSpec = {
      sync: config.syncs[0] as StreamSyncSpec['sync'],
      destination: config.destinations[0]!,
    };
    const handle = engine.client.workflow.getHandle(streamSyncWorkflowId(syncId));
    const user = uniqueId('user');
    await engine.store.append(source, [track(user, Date.now())]);
    await eventually(() => engine.fake.events.some((e) => e.identifier?.value === user));

    // The attack of the report: trackUrl at a listener, trackApiKey from another variable.
    const redirect = {
      ...spec,
      destination: { ...spec.destination, trackUrl: listenerUrl, trackApiKey: '${SECRET_DB_PASSWORD}' },
    };
    expect(await failure(handle.executeUpdate(updateConfigUpdate, { args: [redirect] }))).toBe(
      `destination.trackUrl cannot move a live sync's credentials to another host through updateConfig: "${new URL(engine.fake.url).host}" → "${new URL(listenerUrl).host}"; start the sync anew to change it`,
    );
    // A literal in a default, and a null list, are refused by the config schema itself.
    const defaulted = { ...spec, destination: { ...spec.destination, trackApiKey: '${NOPE:-literal-key}' } };
    expect(await failure(handle.executeUpdate(updateConfigUpdate, { args: [defaulted] }))).toBe(
      'invalid spec: destination.trackApiKey: expected a ${ENV_VAR} reference (no :-default): secrets are read from the environment, never written in the config',
    );
    const nulled = {
      ...spec,
      sync: { ...spec.sync, events: { ...spec.sync.events, pageViews: { as: 'page', eventTypes: null } } },
    };
    expect(await failure(handle.executeUpdate(updateConfigUpdate, { args: [nulled as never] }))).toBe(
      'invalid spec: sync.events.pageViews.eventTypes: Invalid input: expected array, received null',
    );

    // Same host, another variable: schema-valid, so accepted, but the worker does not resolve it.
    // (Paused around the update, so no delivery begun with the old config picks up the next record.)
    await pauseSync(engine.client, syncId);
    await eventually(async () => !(await streamStatus(engine.client, syncId)).delivering);
    const otherVariable = {
      ...spec,
      destination: { ...spec.destination, trackApiKey: '${SECRET_DB_PASSWORD}' },
    };
    await expect(handle.executeUpdate(updateConfigUpdate, { args: [otherVariable] })).resolves.toEqual({
      accepted: true,
    });
    await resumeSync(engine.client, syncId);
    const before = engine.fake.requests.length;
    const held = uniqueId('held');
    await engine.store.append(source, [track(held, Date.now())]);
    const status = await eventually(async () => {
      const s = await streamStatus(engine.client, syncId);
      return s.status === 'credentials_missing' ? s : undefined;
    });
    expect(status.lastError?.message).toBe(
      `environment variable SECRET_DB_PASSWORD (for destination cio trackApiKey) is not one this worker resolves there: allow it in CIO_SYNC_DESTINATION_VARIABLES`,
    );
    expect(engine.fake.requests.slice(before).filter((r) => r.bodyText.includes(held))).toEqual([]);
    const everything = JSON.stringify(engine.fake.requests.map((r) => r.headers));
    expect(everything).not.toContain(Buffer.from(`site-1:${SECRET}`).toString('base64'));
    expect(received).toEqual([]);
  });

  it('a sync started by hand with an override host is held by the worker; a malformed one fails at start', async () => {
    const syncId = uniqueId('byhand');
    const source = uniqueId('hand');
    const config = testConfig(
      engine.fake,
      `  - { id: ${syncId}, type: stream, source: ${source}, destination: cio }`,
      {
        sources: [source],
      },
    );
    const spec: StreamSyncSpec = {
      sync: config.syncs[0] as StreamSyncSpec['sync'],
      destination: { ...config.destinations[0]!, trackUrl: listenerUrl },
    };
    await engine.client.workflow.start('streamSyncWorkflow', {
      taskQueue: engine.taskQueue,
      workflowId: streamSyncWorkflowId(syncId),
      args: [{ spec }],
    });
    await engine.store.append(source, [track(uniqueId('u'), Date.now())]);
    const status = await eventually(async () => {
      const s = await streamStatus(engine.client, syncId);
      return s.status === 'destination_unreachable' ? s : undefined;
    });
    expect(status.lastError?.message).toBe(
      `destination cio trackUrl override "${new URL(listenerUrl).host}" is not allowed by this worker: credentials go only to the region hosts unless CIO_SYNC_OVERRIDE_HOSTS lists the host`,
    );
    expect(received).toEqual([]);
    await engine.client.workflow.getHandle(streamSyncWorkflowId(syncId)).terminate('test finished');

    const malformedId = uniqueId('malformed');
    const malformed = {
      ...spec,
      destination: config.destinations[0]!,
      sync: {
        ...spec.sync,
        id: malformedId,
        events: { ...spec.sync.events, filter: { ...spec.sync.events.filter, where: null } },
      },
    };
    const run = await engine.client.workflow.start('streamSyncWorkflow', {
      taskQueue: engine.taskQueue,
      workflowId: streamSyncWorkflowId(malformedId),
      args: [{ spec: malformed }],
    });
    const err = await run.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(((err as WorkflowFailedError).cause as Error).message).toBe(
      'invalid spec: sync.events.filter.where: Invalid input: expected array, received null',
    );
    expect(received).toEqual([]);
  });
});

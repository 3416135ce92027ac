import { ApplicationFailure } from '@temporalio/activity';

import type { CohortSyncSpec } from '../config/schema.ts';
import type { CioCallResult, CustomerIoClient } from '../customerio/client.ts';
import { FAILURE_TYPES } from '../customerio/policy.ts';
import { cohortAttributeName } from '../mapping/cohort.ts';
import { holdFailure, isHold, openDestination, sendToCustomerIo } from './customerio-send.ts';
import type { ActivityDeps } from './deps.ts';

/** What one chunk of a cohort diff is sent to: the segment (or attribute) and the phase. */
export interface PhaseTarget {
  client: CustomerIoClient;
  spec: CohortSyncSpec;
  segmentId: number | undefined;
  syncId: string;
  runId: string;
  phase: 'add' | 'remove';
  /** The diff is the members of `from` that `other` lacks. */
  from: string;
  other: string | undefined;
}

/** 429s one chunk waits out in place (Retry-After) before the activity fails and Temporal retries it. */
export const CHUNK_RATE_LIMIT_RETRIES = 3;

/**
 * sendChunk, waiting out a 429 in place: failing the activity would resend every chunk on the wire
 * after the saved prefix and wait for Temporal's retry on top of Retry-After.
 */
export async function sendChunkPatiently(
  deps: ActivityDeps,
  { client, spec, phase, segmentId }: PhaseTarget,
  ids: string[],
  signal: AbortSignal,
): Promise<Map<string, string>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await sendChunk(deps, client, spec, phase, ids, segmentId);
    } catch (err) {
      const limited = err instanceof ApplicationFailure && err.type === FAILURE_TYPES.rateLimited;
      if (!limited || attempt >= CHUNK_RATE_LIMIT_RETRIES || signal.aborted) throw err;
      // sendToCustomerIo gives Retry-After in ms; 1 s when Customer.io gave none.
      await sleep(typeof err.nextRetryDelay === 'number' ? err.nextRetryDelay : 1000, signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Sends one chunk of joiners or leavers through the send boundary. Returns the members Customer.io
 * refused, with its reason: item errors of a 207, or every id of a request the data made it refuse
 * (400/413/422). Holds and retries are thrown, so the run keeps its place.
 */
async function sendChunk(
  deps: ActivityDeps,
  client: CustomerIoClient,
  spec: CohortSyncSpec,
  phase: 'add' | 'remove',
  ids: string[],
  segmentId: number | undefined,
): Promise<Map<string, string>> {
  const { sync } = spec;
  const identifiers = (id: string) => ({
    [sync.idType]: sync.idType === 'cio_id' ? id.replace(/^cio_/, '') : id,
  });
  const rejected = new Map<string, string>();
  const identify = async (attributes: (id: string) => Record<string, unknown>) => {
    const ops = ids.map((id) => ({
      type: 'person',
      action: 'identify',
      identifiers: identifiers(id),
      attributes: attributes(id),
    }));
    for (const [id, reason] of await trackCall(deps, spec, ids, () => client.batch(ops)))
      rejected.set(id, reason);
  };
  if (sync.target === 'attribute') {
    const attribute = cohortAttributeName(sync);
    await identify(() => ({ [attribute]: phase === 'add' }));
    return rejected;
  }
  // Customer.io ignores unknown people in a segment add; identifying them first makes sure they exist.
  if (phase === 'add' && sync.identifyJoiners) await identify(() => ({}));
  const members = ids.filter((id) => !rejected.has(id));
  if (members.length === 0) return rejected;
  const call = () =>
    phase === 'add'
      ? client.addToSegment(segmentId as number, members, sync.idType)
      : client.removeFromSegment(segmentId as number, members, sync.idType);
  for (const [id, reason] of await trackCall(deps, spec, members, call)) rejected.set(id, reason);
  return rejected;
}

/** One Track request for `ids` (in request order): the ids Customer.io refused, with its reason. */
async function trackCall(
  deps: ActivityDeps,
  spec: CohortSyncSpec,
  ids: readonly string[],
  request: () => Promise<CioCallResult>,
): Promise<Map<string, string>> {
  const sent = await sendToCustomerIo(deps.store, spec.destination, 'track', request);
  const rejected = new Map<string, string>();
  if (sent.kind === 'hold') throw holdFailure(sent);
  if (sent.kind === 'dead_letter') {
    for (const id of ids) rejected.set(id, `HTTP ${sent.status}: ${sent.message}`.slice(0, 200));
    return rejected;
  }
  for (const e of sent.itemErrors) {
    const id = ids[e.batch_index];
    if (id !== undefined)
      rejected.set(id, [e.reason, e.field, e.message].filter(Boolean).join(': ') || 'rejected');
  }
  return rejected;
}

/** One App API request whose answer the run needs: its body, else a failure (hold, retry, refused). */
export async function appCall(
  deps: ActivityDeps,
  spec: CohortSyncSpec,
  what: string,
  request: () => Promise<CioCallResult>,
): Promise<unknown> {
  return bodyOf(await sendToCustomerIo(deps.store, spec.destination, 'app', request), what);
}

function bodyOf(sent: Awaited<ReturnType<typeof sendToCustomerIo>>, what: string): unknown {
  if (sent.kind === 'hold') throw holdFailure(sent);
  if (sent.kind === 'dead_letter') {
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.rejected,
      message: `Customer.io refused to ${what}: HTTP ${sent.status}: ${sent.message}`,
      nonRetryable: true,
    });
  }
  return sent.body;
}

/** Customer.io's count of the segment versus the snapshot: members it did not know, when it tells. */
export async function unknownMembers(
  deps: ActivityDeps,
  client: CustomerIoClient,
  spec: CohortSyncSpec,
  segmentId: number | undefined,
  members: number,
): Promise<number | undefined> {
  if (segmentId === undefined || !spec.destination.appApiKey) return undefined;
  const sent = await sendToCustomerIo(deps.store, spec.destination, 'app', () =>
    client.getSegmentCustomerCount(segmentId),
  );
  // Only informative: whatever stands in its way must not fail a run that is already applied.
  if (sent.kind !== 'done') return undefined;
  const count = (sent.body as { count?: unknown }).count;
  return typeof count === 'number' ? Math.max(0, members - count) : undefined;
}

/** The cohort sync's Customer.io client; a hold (missing credentials, a paused destination) fails the activity. */
export async function cohortClient(
  deps: ActivityDeps,
  spec: CohortSyncSpec,
  syncId: string,
): Promise<{ client: CustomerIoClient; dryRun: boolean }> {
  const opened = await openDestination(deps.clients, spec.destination, syncId);
  if (isHold(opened)) throw holdFailure(opened);
  return opened;
}

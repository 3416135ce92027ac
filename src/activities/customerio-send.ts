/**
 * The one Customer.io send boundary. Stream delivery, redrive and cohort apply all send through
 * here: it takes the destination's shared rate slot, makes the request, classifies the answer and
 * applies the one policy (src/customerio/policy.ts) that makes it a retry (thrown, for Temporal to
 * retry), a hold, a dead letter or done.
 */
import { ApplicationFailure } from '@temporalio/common';

import type { Destination } from '../config/schema.ts';
import type { CioApi, CioCallResult, CustomerIoClient } from '../customerio/client.ts';
import type { CioItemError } from '../customerio/classify.ts';
import { HOLD_FAILURE_TYPES, decide, type Hold } from '../customerio/policy.ts';
import type { Store } from '../store/store.ts';
import { DestinationHoldError, type DestinationClients } from './destinations.ts';

export type { Hold } from '../customerio/policy.ts';

export type SendOutcome =
  | { kind: 'done'; status: number; body: unknown; itemErrors: CioItemError[]; durationMs: number }
  | { kind: 'dead_letter'; status: number; message: string; durationMs: number }
  | ({ kind: 'hold'; durationMs: number } & Hold);

export interface OpenDestination {
  client: CustomerIoClient;
  /** As recorded in the sync's spec when its config was applied; never decided by the worker. */
  dryRun: boolean;
}

/**
 * The client a sync sends with: a recording one when the applied spec says dry run, else a live
 * one built from the worker's own environment; a hold when that environment lacks a credential.
 */
export async function openDestination(
  clients: DestinationClients,
  destination: Destination,
  syncId: string,
): Promise<OpenDestination | Hold> {
  if (destination.dryRun === true) return { client: clients.dryRunClient(destination, syncId), dryRun: true };
  try {
    return { client: await clients.client(destination), dryRun: false };
  } catch (err) {
    if (err instanceof DestinationHoldError) return err.hold;
    throw err;
  }
}

export function isHold(value: unknown): value is Hold {
  return typeof value === 'object' && value !== null && 'hold' in value;
}

/**
 * The share of the budget the shared limiter spaces requests at. A request leaves some milliseconds
 * after its slot (timers fire late, a store write holds the event loop), so requests spaced exactly
 * at the limit put one too many into some one-second window, and each of those costs a 429 and a
 * retry. 95 % tolerates about 50 ms of such lateness (measured: at 99 % of 100 requests/s, eight
 * cohort chunks in flight met 19 429s in 1,000 requests).
 */
const PACING = 0.95;

/** The rate the shared limiter spaces requests at: PACING of the budget, and at least one a second under it. */
export function pacedRate(perSecond: number): number {
  return perSecond > 2 ? Math.min(perSecond - 1, perSecond * PACING) : perSecond / 2;
}

/**
 * Waits for the destination's next request slot (shared by every worker through the store). A
 * caller that takes it before reading what to send (stream lanes) sends everything that arrived
 * during the wait in one request.
 */
export async function takeRateSlot(store: Store, destination: Destination, api: CioApi): Promise<number> {
  const perSecond = budgetOf(destination, api);
  const wait = await store.reserveRateSlot(`${api}:${destination.id}`, pacedRate(perSecond));
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  return wait;
}

function budgetOf(destination: Destination, api: CioApi): number {
  return api === 'track' ? destination.requestsPerSecond : destination.appRequestsPerSecond;
}

/** When this process's requests to each destination and API left, over the last second. */
const recentSends = new Map<string, number[]>();
const WINDOW_MS = 1000;
/** Of a paced slot: the least time between two sends, however late the first one left. */
const MIN_GAP = 0.75;

/**
 * The last gate before a request leaves. Shared slots space requests when they are reserved, but a
 * request can leave late (its lane read and mapped after the slot, a synchronous store write held
 * the event loop) and land nearer the next one than its slot said; counted in Customer.io's
 * one-second window, that can be one too many. So a request also waits until fewer than the paced
 * budget left this process in the last second, and at least MIN_GAP of a slot after the last one.
 */
async function admitSend(key: string, perSecond: number): Promise<void> {
  const paced = pacedRate(perSecond);
  const allowed = Math.max(1, Math.floor(paced));
  const minGapMs = (MIN_GAP * 1000) / paced;
  for (;;) {
    const now = Date.now();
    let sends = recentSends.get(key);
    if (!sends) recentSends.set(key, (sends = []));
    while (sends.length > 0 && sends[0]! <= now - WINDOW_MS) sends.shift();
    const last = sends.at(-1);
    const wait = Math.max(
      sends.length < allowed ? 0 : sends[0]! + WINDOW_MS - now + 1,
      last === undefined ? 0 : Math.ceil(last + minGapMs - now),
    );
    if (wait <= 0) {
      sends.push(now);
      return;
    }
    await new Promise((r) => setTimeout(r, wait));
  }
}

/**
 * Sends one request under the destination's shared rate limit (Track and App API apart) and
 * applies the policy. Retryable answers throw a retryable ApplicationFailure carrying Retry-After
 * as nextRetryDelay, so Temporal retries the whole activity and nothing is skipped.
 */
export async function sendToCustomerIo(
  store: Store,
  destination: Destination,
  api: CioApi,
  request: () => Promise<CioCallResult>,
  opts: { slotTaken?: boolean } = {},
): Promise<SendOutcome> {
  if (!opts.slotTaken) await takeRateSlot(store, destination, api);
  await admitSend(`${api}:${destination.id}`, budgetOf(destination, api));
  const { outcome, durationMs } = await request();
  const decision = decide(outcome);
  switch (decision.action) {
    case 'retry':
      throw ApplicationFailure.create({
        type: decision.failureType,
        message: decision.message,
        nextRetryDelay: decision.retryAfterMs,
        details: [{ status: decision.status, durationMs }],
      });
    case 'done':
      return {
        kind: 'done',
        status: decision.status,
        body: decision.body,
        itemErrors: decision.itemErrors,
        durationMs,
      };
    case 'dead_letter':
      return { kind: 'dead_letter', status: decision.status, message: decision.message, durationMs };
    case 'hold':
      return {
        kind: 'hold',
        hold: decision.hold,
        message: decision.message,
        ...(decision.status !== undefined && { status: decision.status }),
        durationMs,
      };
  }
}

/**
 * A hold as a non-retryable failure, for activities whose result cannot carry it (cohort steps):
 * the workflow matches the type, shows the hold and tries again later without losing its place.
 */
export function holdFailure(hold: Hold): ApplicationFailure {
  return ApplicationFailure.create({
    type: HOLD_FAILURE_TYPES[hold.hold],
    message: hold.message,
    nonRetryable: true,
    details: [{ hold: hold.hold, status: hold.status }],
  });
}

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
 * retry. Within one process admitSend rules that out; between workers sharing a destination, 95 %
 * tolerates about 50 ms of such lateness.
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

/** A request's place in the destination's budget: its shared slot taken, and the last gate passed. */
export interface SendSlot {
  /** How long taking it waited (ms): what arrived meanwhile can go in the same request. */
  waitedMs: number;
  /** Call once the request's answer (or failure) is in, or when the slot goes unused. */
  answered: () => void;
}

/**
 * Takes the next request slot (takeRateSlot) and passes the last gate (admitSend). A caller that
 * takes it before reading what to send (stream lanes) puts everything that arrived during either
 * wait into the one request: a budget near its limit makes requests fuller rather than queueing.
 */
export async function takeSendSlot(store: Store, destination: Destination, api: CioApi): Promise<SendSlot> {
  const reserved = await takeRateSlot(store, destination, api);
  const gateAt = Date.now();
  const answered = await admitSend(`${api}:${destination.id}`, budgetOf(destination, api));
  return { waitedMs: reserved + (Date.now() - gateAt), answered };
}

function budgetOf(destination: Destination, api: CioApi): number {
  return api === 'track' ? destination.requestsPerSecond : destination.appRequestsPerSecond;
}

/** This process's requests to one destination and API, as the last gate counts them. */
interface SendGate {
  /** Let through and not answered yet. */
  inFlight: number;
  /** When the answered ones were answered, oldest first (answers come in time order). */
  answeredAt: number[];
  /** Waiting for an answer because every counted request is still on the wire. */
  waitingForAnswer: Array<() => void>;
}
const gates = new Map<string, SendGate>();
const WINDOW_MS = 1000;

/**
 * The last gate before a request leaves: at most the budget's worth of this process's requests may
 * be counted at once, each from when it is let through until a second after its answer came.
 * Customer.io counts a request when it arrives, which is after it was let through and before its
 * answer, so however late requests leave (a lane reads and maps after its slot, a synchronous
 * store write holds the event loop), no one-second window there holds more of this process's
 * requests than the budget: of those arriving within one second, the last one let through saw all
 * the others still counted. (The shared slots keep the pace below it; this only bounds bunching.)
 * Returns what to call once the answer (or the failure) is in; every caller must call it.
 */
async function admitSend(key: string, perSecond: number): Promise<() => void> {
  const allowed = Math.max(1, Math.floor(perSecond));
  let gate = gates.get(key);
  if (!gate) gates.set(key, (gate = { inFlight: 0, answeredAt: [], waitingForAnswer: [] }));
  const { answeredAt } = gate;
  for (;;) {
    const now = Date.now();
    let expired = 0;
    while (expired < answeredAt.length && answeredAt[expired]! + WINDOW_MS <= now) expired++;
    if (expired > 0) answeredAt.splice(0, expired);
    if (gate.inFlight + answeredAt.length < allowed) {
      gate.inFlight++;
      let answered = false;
      const counted = gate;
      return () => {
        if (answered) return;
        answered = true;
        counted.inFlight--;
        counted.answeredAt.push(Date.now());
        for (const wake of counted.waitingForAnswer.splice(0)) wake();
      };
    }
    // The next one counted stops counting a second after its answer; with none answered yet, the
    // first answer says when.
    if (answeredAt.length > 0) await new Promise((r) => setTimeout(r, answeredAt[0]! + WINDOW_MS - now + 1));
    else await new Promise<void>((r) => gate.waitingForAnswer.push(r));
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
  /** A slot the caller took already (takeSendSlot); this send answers it. */
  opts: { slot?: SendSlot } = {},
): Promise<SendOutcome> {
  const slot = opts.slot ?? (await takeSendSlot(store, destination, api));
  let result: CioCallResult;
  try {
    result = await request();
  } finally {
    slot.answered();
  }
  const { outcome, durationMs } = result;
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

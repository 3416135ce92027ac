/**
 * The one policy that turns what Customer.io answered into what the engine does next. Pure: the
 * send boundary (src/activities/customerio-send.ts) applies it to every request that stream
 * delivery, redrive and cohort apply make, so a status code means the same thing everywhere.
 *
 *   ok, 207 item errors            → done (item errors are dead letters / skipped members)
 *   400, 413, 422                  → the data was refused: dead-letter the request's records
 *   401, 403                       → hold: credentials_rejected
 *   3xx, 404, 405, other 4xx, DNS, TLS → hold: destination_unreachable (a wrong URL or region
 *                                    must never drain a sync into dead letters)
 *   408, 429, 5xx, timeouts, network → retry (Temporal retries the activity; Retry-After honoured)
 */
import type { CioItemError, CioOutcome } from './classify.ts';

/** Why a sync waits without advancing. Every one of them is fixed by an operator, not by retrying. */
export type HoldReason = 'credentials_missing' | 'credentials_rejected' | 'destination_unreachable';

/** Why a sync cannot send right now, as the workflow shows it. */
export interface Hold {
  hold: HoldReason;
  message: string;
  status?: number;
}

export const HOLD_REASONS: readonly HoldReason[] = [
  'credentials_missing',
  'credentials_rejected',
  'destination_unreachable',
];

/**
 * Failure types the activities raise, named once. They are what retry policies list, what the Web
 * UI shows for a failed attempt and what workflows match on.
 */
export const FAILURE_TYPES = {
  rateLimited: 'CustomerIoRateLimited',
  unavailable: 'CustomerIoUnavailable',
  /** A hold raised by an activity that cannot report it in its result (cohort apply). */
  credentialsMissing: 'CredentialsMissing',
  credentialsRejected: 'CustomerIoCredentialsRejected',
  destinationUnreachable: 'CustomerIoUnreachable',
  /** Customer.io refused a request that cio-sync cannot dead-letter (an App API call). */
  rejected: 'CustomerIoRejected',
} as const;

/** The hold an outcome names (a lane's summary outcome, say), or undefined. */
export function holdOf(outcome: string): HoldReason | undefined {
  return (HOLD_REASONS as readonly string[]).includes(outcome) ? (outcome as HoldReason) : undefined;
}

export const HOLD_FAILURE_TYPES: Record<HoldReason, string> = {
  credentials_missing: FAILURE_TYPES.credentialsMissing,
  credentials_rejected: FAILURE_TYPES.credentialsRejected,
  destination_unreachable: FAILURE_TYPES.destinationUnreachable,
};

/** Statuses that mean "this data is wrong": the only request-level answers that dead-letter. */
const DATA_REJECTED = new Set([400, 413, 422]);

export type CioDecision =
  | { action: 'done'; status: number; body: unknown; itemErrors: CioItemError[] }
  | { action: 'dead_letter'; status: number; message: string }
  | { action: 'hold'; hold: HoldReason; status?: number; message: string }
  | { action: 'retry'; failureType: string; status?: number; message: string; retryAfterMs?: number };

export function decide(outcome: CioOutcome): CioDecision {
  switch (outcome.kind) {
    case 'ok':
      return { action: 'done', status: outcome.status, body: outcome.body, itemErrors: [] };
    case 'item_errors':
      return { action: 'done', status: outcome.status, body: outcome.body, itemErrors: outcome.errors };
    case 'rate_limited':
    case 'retryable':
      return {
        action: 'retry',
        failureType: outcome.kind === 'rate_limited' ? FAILURE_TYPES.rateLimited : FAILURE_TYPES.unavailable,
        ...(outcome.status !== undefined && { status: outcome.status }),
        message: `Customer.io ${outcome.status ? `HTTP ${outcome.status}: ` : ''}${outcome.message}`,
        ...(outcome.retryAfterMs !== undefined && { retryAfterMs: outcome.retryAfterMs }),
      };
    case 'unreachable':
      return { action: 'hold', hold: 'destination_unreachable', message: `Customer.io ${outcome.message}` };
    case 'permanent': {
      const { status } = outcome;
      if (status === 401 || status === 403) {
        return {
          action: 'hold',
          hold: 'credentials_rejected',
          status,
          message: `Customer.io rejected the credentials (HTTP ${status}: ${outcome.message})`,
        };
      }
      if (DATA_REJECTED.has(status)) return { action: 'dead_letter', status, message: outcome.message };
      return {
        action: 'hold',
        hold: 'destination_unreachable',
        status,
        message: `Customer.io answered HTTP ${status} (${outcome.message}): check the destination's region, trackUrl and appUrl`,
      };
    }
  }
}

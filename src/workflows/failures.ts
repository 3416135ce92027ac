/**
 * How workflows read a failed activity. Sandbox-safe: @temporalio/workflow and the pure policy.
 */
import { ApplicationFailure, type ActivityFailure } from '@temporalio/workflow';

import { HOLD_FAILURE_TYPES, type HoldReason } from '../customerio/policy.ts';
import type { LastError } from './sync-api.ts';

export interface FailureInfo extends LastError {
  /** The activity said retrying cannot help (a permanent error), rather than running out of attempts. */
  nonRetryable: boolean;
  /** The failure is a hold the activity raised (cohort steps): the sync waits for the fix. */
  hold?: HoldReason;
}

/** The innermost cause of an activity failure: its message, failure type and HTTP status. */
export function failureOf(err: ActivityFailure): FailureInfo {
  let cause: Error | undefined = err;
  while (cause?.cause instanceof Error) cause = cause.cause;
  const app = cause instanceof ApplicationFailure ? cause : undefined;
  const type = app?.type ?? undefined;
  const status = statusOf(app?.details);
  const hold = holdOfFailureType(type);
  return {
    message: cause?.message ?? err.message,
    at: new Date().toISOString(),
    nonRetryable: app?.nonRetryable === true,
    ...(type && { type }),
    ...(status !== undefined && { status }),
    ...(hold && { hold }),
  };
}

function holdOfFailureType(type: string | undefined): HoldReason | undefined {
  const found = Object.entries(HOLD_FAILURE_TYPES).find(([, failureType]) => failureType === type);
  return found?.[0] as HoldReason | undefined;
}

function statusOf(details: unknown[] | undefined | null): number | undefined {
  const first = details?.[0] as { status?: unknown } | undefined;
  return typeof first?.status === 'number' ? first.status : undefined;
}

/** `lastError` without the fields that only steer the workflow. */
export function lastErrorOf({ message, at, type, status }: FailureInfo): LastError {
  return { message, at, ...(type && { type }), ...(status !== undefined && { status }) };
}

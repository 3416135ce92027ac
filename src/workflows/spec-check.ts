/**
 * The schema check of a spec a workflow is started or updated with. It runs in a local activity:
 * the config schema (zod) stays out of the sandbox, where every cached workflow would hold its own
 * copy of it (about 1.3 MB each).
 */
import { ActivityFailure, ApplicationFailure, patched, proxyLocalActivities } from '@temporalio/workflow';

import type { createActivities } from '../activities/index.ts';
import { INVALID_SYNC_CONFIG } from '../config/spec-rules.ts';
import type { CheckSyncSpecInput } from './types.ts';

const { checkSyncSpec } = proxyLocalActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '10 seconds',
  // A refusal is final (INVALID_SYNC_CONFIG is non-retryable); anything else is the worker's
  // trouble and is retried.
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/**
 * Histories recorded before the check moved out of the sandbox checked in the workflow itself,
 * with no command: they replay without it (what they started or accepted had passed).
 */
const CHECK_IN_ACTIVITY = 'spec-check-activity';

/** Throws the non-retryable `InvalidSyncConfig` failure, naming the problems, for a spec the schema refuses. */
export async function checkSpec(type: CheckSyncSpecInput['type'], spec: unknown): Promise<void> {
  if (!patched(CHECK_IN_ACTIVITY)) return;
  try {
    await checkSyncSpec({ type, spec });
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type === INVALID_SYNC_CONFIG)
      throw ApplicationFailure.nonRetryable(cause.message, INVALID_SYNC_CONFIG);
    throw err;
  }
}

/**
 * The schema check of a spec a workflow is started or updated with. It runs in an activity: the
 * config schema (zod) stays out of the sandbox, where every cached workflow would hold its own
 * copy of it (about 1.3 MB each).
 */
import {
  ActivityFailure,
  ApplicationFailure,
  patched,
  proxyActivities,
  proxyLocalActivities,
} from '@temporalio/workflow';

import type { createActivities } from '../activities/index.ts';
import { INVALID_SYNC_CONFIG } from '../config/spec-rules.ts';
import { activitySummary } from './web-ui-details.ts';
import type { CheckSyncSpecInput } from './activity-io.ts';

type Activities = ReturnType<typeof createActivities>;

// A refusal is final (INVALID_SYNC_CONFIG is non-retryable); anything else is the worker's trouble
// and is retried.
const retry = { initialInterval: '1 second', maximumInterval: '30 seconds' };
const { checkSyncSpec } = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry });
const { checkSyncSpec: checkSyncSpecLocally } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry,
});

/**
 * Since this patch the check is an ordinary activity. As a local activity, its result and the
 * workflow's next step could be recorded in two workflow tasks (when the result came back while
 * the worker was still answering the first task), and such a history failed replay: the patch
 * marker after the check was looked for in the wrong task. An ordinary activity's result always
 * starts a task of its own. Histories from before keep the local activity.
 */
const CHECK_IN_ORDINARY_ACTIVITY = 'spec-check-ordinary-activity';

/**
 * Histories recorded before the check moved out of the sandbox checked in the workflow itself,
 * with no command: they replay without it (what they started or accepted had passed).
 */
const CHECK_IN_ACTIVITY = 'spec-check-activity';

/** Throws the non-retryable `InvalidSyncConfig` failure, naming the problems, for a spec the schema refuses. */
export async function checkSpec(type: CheckSyncSpecInput['type'], spec: unknown): Promise<void> {
  try {
    if (patched(CHECK_IN_ORDINARY_ACTIVITY)) {
      await checkSyncSpec.executeWithOptions({ summary: activitySummary.checkSpec(type) }, [{ type, spec }]);
    } else if (patched(CHECK_IN_ACTIVITY)) {
      await checkSyncSpecLocally({ type, spec });
    }
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type === INVALID_SYNC_CONFIG)
      throw ApplicationFailure.nonRetryable(cause.message, INVALID_SYNC_CONFIG);
    throw err;
  }
}

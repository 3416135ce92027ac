import { ApplicationFailure } from '@temporalio/activity';

import { INVALID_SYNC_CONFIG, InvalidSpecError } from '../config/spec-rules.ts';
import { assertCohortSyncSpec, assertStreamSyncSpec } from '../config/spec-validation.ts';
import type { CheckSyncSpecInput } from '../workflows/activity-io.ts';

/**
 * Checks a spec a workflow was started or updated with against the config file's schema. A local
 * activity: the schema (zod) stays out of the workflow sandbox, where every workflow would carry
 * its own copy. Refusals are final and name the problems; nothing else can fail here.
 */
export async function checkSyncSpec(input: CheckSyncSpecInput): Promise<void> {
  try {
    if (input.type === 'stream') assertStreamSyncSpec(input.spec);
    else assertCohortSyncSpec(input.spec);
  } catch (err) {
    if (err instanceof InvalidSpecError)
      throw ApplicationFailure.nonRetryable(err.message, INVALID_SYNC_CONFIG);
    throw err;
  }
}

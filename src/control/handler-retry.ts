import { QueryNotRegisteredError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';

/**
 * A fresh sync sets its query and update handlers once its spec check (a local activity, in its
 * first workflow task) is back, so a status query or a config update in those first moments is
 * refused for want of a handler. Such a refusal leaves nothing in the sync's history, so it is
 * made again until the handlers are there. (Set before the check, the handlers would need no
 * retry, but one of three histories recorded that way failed replay: the check's result and the
 * patch marker after it fell into different workflow tasks. So the order stays as it was.)
 */
export async function whenHandled<T>(
  call: () => Promise<T>,
  { timeoutMs = 10_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!isNoHandler(err) || Date.now() >= deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

/** The workflow had no handler for the query or update (yet). */
export function isNoHandler(err: unknown): boolean {
  if (err instanceof QueryNotRegisteredError) return true;
  return (
    err instanceof WorkflowUpdateFailedError &&
    err.cause instanceof ApplicationFailure &&
    err.cause.message.startsWith('No registered handler for update')
  );
}

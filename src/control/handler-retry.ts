import { QueryNotRegisteredError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';

/**
 * A sync started by an earlier version sets its query and update handlers only once its spec
 * check is back (src/workflows/spec-check.ts), so a status query or a config update in its first
 * moments is refused for want of a handler; so would be one that reaches a worker still on that
 * version. Such a refusal leaves nothing in the sync's history, so it is made again until the
 * handlers are there.
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

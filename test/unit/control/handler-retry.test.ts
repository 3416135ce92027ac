import { QueryNotRegisteredError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';

import { isNoHandler, whenHandled } from '../../../src/control/handler-retry.ts';

const noUpdateHandler = () =>
  new WorkflowUpdateFailedError(
    'Workflow Update failed',
    ApplicationFailure.nonRetryable('No registered handler for update: updateConfig'),
  );

describe('whenHandled', () => {
  it('asks again while the sync has no handler yet, and returns the answer', async () => {
    let calls = 0;
    const answer = await whenHandled(
      async () => {
        calls++;
        if (calls === 1) throw new QueryNotRegisteredError('no query handler', 3);
        if (calls === 2) throw noUpdateHandler();
        return 'status';
      },
      { intervalMs: 1 },
    );
    expect(answer).toBe('status');
    expect(calls).toBe(3);
  });

  it('passes any other failure on at once, and a missing handler once the time is up', async () => {
    let calls = 0;
    const refused = new WorkflowUpdateFailedError(
      'Workflow Update failed',
      ApplicationFailure.nonRetryable('sync id cannot change (a → b)'),
    );
    await expect(
      whenHandled(async () => {
        calls++;
        throw refused;
      }),
    ).rejects.toBe(refused);
    expect(calls).toBe(1);
    await expect(
      whenHandled(
        async () => {
          throw noUpdateHandler();
        },
        { timeoutMs: 20, intervalMs: 5 },
      ),
    ).rejects.toThrow('Workflow Update failed');
  });

  it('tells a missing handler from a refusal', () => {
    expect(isNoHandler(noUpdateHandler())).toBe(true);
    expect(isNoHandler(new QueryNotRegisteredError('x', 3))).toBe(true);
    expect(isNoHandler(new Error('No registered handler for update: x'))).toBe(false);
  });
});

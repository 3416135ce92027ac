import { describe, expect, it } from 'vitest';

import { type StoreContract } from './harness.ts';

/** The Store contract for captured requests (dry run). */
export function describeCaptureContract(contract: StoreContract): void {
  const { open } = contract;
  describe('captured requests', () => {
    it('stores and lists dry-run captures per sync, paged by id', async () => {
      const store = await open({ now: () => 42 });
      const body = {
        batch: [{ type: 'person', action: 'event', name: 'Signed Up', identifiers: { id: 'u1' } }],
      };
      await store.captureRequests([
        {
          syncId: 's1',
          destinationId: 'cio',
          method: 'POST',
          url: 'https://track.customer.io/api/v2/batch',
          body,
        },
        { syncId: 's2', destinationId: 'cio', method: 'PUT', url: 'https://example.test/x', body: 'text' },
        {
          syncId: 's1',
          destinationId: 'cio',
          method: 'POST',
          url: 'https://example.test/y',
          body: undefined,
        },
      ]);

      const s1 = await store.listCapturedRequests('s1');
      expect(s1).toEqual([
        {
          id: s1[0]!.id,
          syncId: 's1',
          destinationId: 'cio',
          method: 'POST',
          url: 'https://track.customer.io/api/v2/batch',
          body,
          createdAt: 42,
        },
        expect.objectContaining({ url: 'https://example.test/y', body: null }),
      ]);
      expect(await store.listCapturedRequests('s1', { limit: 1 })).toEqual([s1[0]]);
      expect(await store.listCapturedRequests('s1', { afterId: s1[0]!.id })).toEqual([s1[1]]);
      expect((await store.listCapturedRequests('s2')).map((r) => r.body)).toEqual(['text']);
    });
  });
}

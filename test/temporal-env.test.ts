import { Connection } from '@temporalio/client';
import { describe, expect, inject, it } from 'vitest';

import { SEARCH_ATTRIBUTES } from '../src/workflows/sync-api.ts';

/**
 * The suite's one server (test/global-setup.ts, @temporalio/testing's local environment on the
 * project's Temporal CLI) is set up as `make start` sets up its dev server: every workflow test
 * relies on the engine's search attributes being there.
 */
// temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD (the proto package is not a
// dependency of this project, only of the SDK's).
const KEYWORD = 2;

describe('the test suite’s Temporal server', () => {
  it('has the engine’s search attributes registered as keywords', async () => {
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({
        namespace: 'default',
      });
      const registered = Object.fromEntries(
        SEARCH_ATTRIBUTES.map((key) => [key.name, customAttributes?.[key.name]]),
      );
      expect(registered).toEqual(Object.fromEntries(SEARCH_ATTRIBUTES.map((key) => [key.name, KEYWORD])));
    } finally {
      await connection.close();
    }
  });
});

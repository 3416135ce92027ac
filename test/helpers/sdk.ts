import { createInstance } from '@amplitude/analytics-node';
import { Analytics } from '@segment/analytics-node';
import { expect } from 'vitest';

/**
 * The official SDKs pointed at a test ingest server. A source `<id>` has the key `<id>-key`
 * (test/helpers/engine.ts testConfig).
 */

/** An Amplitude Node SDK instance sending to `/2/httpapi`, flushing quickly. */
export async function amplitudeClient(ingestUrl: string, source: string) {
  const client = createInstance();
  await client.init(`${source}-key`, {
    serverUrl: `${ingestUrl}/2/httpapi`,
    flushIntervalMillis: 20,
    flushQueueSize: 50,
    logLevel: 0,
  }).promise;
  return client;
}

/** Sends through a Segment Node SDK instance, flushes it, and asserts it reported no error. */
export async function sendWithSegment(
  ingestUrl: string,
  source: string,
  send: (client: Analytics) => void,
): Promise<void> {
  const client = new Analytics({
    writeKey: `${source}-key`,
    host: ingestUrl,
    flushAt: 50,
    flushInterval: 50,
    maxRetries: 0,
  });
  const errors: unknown[] = [];
  client.on('error', (e) => errors.push(e));
  send(client);
  await client.closeAndFlush();
  expect(errors).toEqual([]);
}

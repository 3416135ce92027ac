import { z } from 'zod';

import { HttpUrl, Id, SecretRef } from './fields.ts';

/** A source of the config file: its key, and the webhooks and Export API it may be fed by. */

/** HTTP header names as RFC 9110 allows them (a token), matched without regard to case. */
const HeaderName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/, 'expected an HTTP header name such as X-Webhook-Secret');

/**
 * Amplitude's Webhook streaming destination: it can only authenticate with a header the user
 * sets, so the source names the header and the secret its value must equal.
 */
export const AmplitudeWebhook = z.strictObject({
  header: HeaderName.default('X-Webhook-Secret').describe(
    "the header Amplitude's Webhook destination is set to send",
  ),
  secret: SecretRef.describe('`${VAR}`: the value that header must carry'),
});

/** Segment's Webhooks destinations sign each request (`X-Signature`) with this shared secret. */
export const SegmentWebhook = z.strictObject({
  sharedSecret: SecretRef.describe('`${VAR}`: the secret Segment signs each request with (`X-Signature`)'),
});

/** The platforms' own outbound destinations that may post to this source (docs/connect-sources.md). */
export const SourceWebhooks = z.strictObject({
  amplitude: AmplitudeWebhook.optional().describe(
    "Amplitude's Webhook destination, posting to `/webhooks/amplitude/<source>`",
  ),
  segment: SegmentWebhook.optional().describe(
    "Segment's Webhooks (Actions) or classic Webhooks, posting to `/webhooks/segment/<source>`",
  ),
});

export const Source = z.strictObject({
  id: Id.describe('letters, digits, `-` and `_` (1 to 63 characters)'),
  /** What the Amplitude SDK sends as `api_key`, or the Segment write key. */
  apiKey: SecretRef.describe(
    '`${VAR}`: what the Amplitude SDK sends as `api_key`, or the Segment write key; ingest does not start while it is unset',
  ),
  /**
   * The secret half of the HTTP Basic credentials (`apiKey:secretKey`) that Amplitude's User Privacy
   * API (`POST /api/2/deletions/users`) takes, as Amplitude's own uses the project's secret key. No
   * secret: the source accepts no deletion requests.
   */
  secretKey: SecretRef.optional().describe(
    "`${VAR}`: the secret of Amplitude's User Privacy API (Basic `apiKey:secretKey`, as Amplitude's uses the project's secret key); without it (or with the variable unset or empty) the source accepts no deletion requests",
  ),
  name: z.string().optional().describe('free text'),
  /** Webhook receivers: `POST /webhooks/amplitude/<id>` and `POST /webhooks/segment/<id>`. */
  webhooks: SourceWebhooks.optional().describe(
    'the webhook receivers of [connect-sources.md](connect-sources.md); ingest does not start while a secret is unset',
  ),
  /**
   * Whether every route stores an insert id (`insert_id`, `$insert_id`, `messageId`) once: a record
   * the log already holds is acknowledged, not appended again. Default: on for a source with
   * webhooks (one event can arrive by several doors and webhook retries), off otherwise (keying
   * costs SQLite appends about four times their time; Customer.io still deduplicates by event id).
   * Backfills always store an insert id once.
   */
  dedupe: z
    .boolean()
    .optional()
    .describe(
      'store each insert id (`insert_id`, `$insert_id`, `messageId`) once on every route: a record the log holds is acknowledged, not appended again. Default: on for a source with `webhooks`, off otherwise; off, appends are about four times cheaper on SQLite and Customer.io still deduplicates events by id. Backfills always store an insert id once',
    ),
  /**
   * Amplitude's Export API, for `cio-sync backfill`: the project's data region (the API key and
   * `secretKey` above are its Basic credentials), or `exportUrl` to point it elsewhere.
   */
  region: z
    .enum(['us', 'eu'])
    .default('us')
    .describe(
      '`us` or `eu`: the Amplitude Export API host `cio-sync backfill` asks (with `apiKey:secretKey`)',
    ),
  exportUrl: HttpUrl.optional().describe(
    'another Export API URL (tests, proxies); the worker sends credentials to it only when `CIO_SYNC_OVERRIDE_HOSTS` lists its host',
  ),
});
export type Source = z.infer<typeof Source>;

import { z } from 'zod';

import { parseDuration } from './duration.ts';
import { isSecretReference } from './env.ts';

/** Config field types shared by the main schema and the cohort source schema. */

export const SECRET_REFERENCE_MESSAGE =
  'expected a ${ENV_VAR} reference (no :-default): secrets are read from the environment, never written in the config';

/**
 * A secret: only a `${ENV_VAR}` reference (or `${ENV_VAR:-}`) is accepted, so no key can reach
 * Temporal, not even as a default.
 */
export const SecretRef = z.string().refine(isSecretReference, SECRET_REFERENCE_MESSAGE);

/** `500ms`, `30s`, `15m`, `2h`, `1d` or milliseconds → milliseconds. */
export const Duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration such as 500ms, 30s, 15m, 2h or 1d' });
    return z.NEVER;
  }
  return ms;
});

/** An http(s) URL (host overrides: `trackUrl`, `appUrl`, an Amplitude cohort's `url`). */
export const HttpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

/** A source, destination or sync id. */
export const Id = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/,
    'expected an id of letters, digits, "-" and "_" (1 to 63 characters)',
  );

/** `*` selects every property; a list selects those names; an empty list sends none. */
export const PropertySelection = z.union([z.literal('*'), z.array(z.string().min(1))]);
export type PropertySelection = z.infer<typeof PropertySelection>;

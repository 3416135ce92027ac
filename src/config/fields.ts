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

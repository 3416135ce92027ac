/** A record's user properties as plain values: `$set` / `$setOnce` flattened, other operations dropped. */
import { AMPLITUDE_USER_PROPERTY_OPERATIONS } from '../events/amplitude.ts';
import { assignOwn, isPlainObject, setOwn } from '../json-values.ts';

/**
 * Of Amplitude's user property operations only `$set` and `$setOnce` carry plain values; the others
 * (`$add`, `$unset`, `$append`, …) need the person's previous values to mean anything, which is the
 * job of user forwarding (amplitude-user-operations.ts, against each user's snapshot), not of this flat view:
 * it serves event data and identifier paths, which read one record alone.
 *
 * User properties as plain values: `$setOnce` first, then top-level values, then `$set`, later ones
 * winning. `$setOnce` loses because it means "only if not set yet", so anything set explicitly in the
 * same update is the value the person ends up with. Amplitude says not to mix operations with bare
 * properties; if a client does, `$set` is the explicit one. Other operations are dropped (see above).
 * Segment traits have no operations and pass unchanged.
 */
export function flattenUserProperties(props: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isPlainObject(props)) return out;
  if (isPlainObject(props.$setOnce)) assignOwn(out, props.$setOnce);
  for (const [key, value] of Object.entries(props)) {
    if (!AMPLITUDE_USER_PROPERTY_OPERATIONS.has(key)) setOwn(out, key, value);
  }
  if (isPlainObject(props.$set)) assignOwn(out, props.$set);
  return out;
}

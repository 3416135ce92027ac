import { z } from 'zod';

import type { Cadence } from './cadence.ts';
import {
  CohortSync,
  Destination,
  LogSettings,
  StreamSync,
  type CohortSyncSpec,
  type StreamSyncSpec,
} from './schema.ts';

import { InvalidSpecError } from './spec-rules.ts';

/**
 * Validates the spec a workflow is started or updated with against the config file's own schema.
 * Whoever can reach Temporal can send a spec without going through the CLI, so the workflow must
 * not trust one: a spec with a `null` list, an unknown field, a literal secret or a
 * `${VAR:-default}` is refused before it is applied, with the same messages a config file gets.
 *
 * Run by the `checkSyncSpec` activity, not in the workflow sandbox: a module the workflow bundle
 * imports is evaluated again for every workflow, and zod is heavy (spec-rules.ts).
 * A spec is the schema's *output* (defaults applied, durations in ms); re-parsing it gives the
 * same value, except for a cohort's cadence, which is written back to its config form first.
 */

const StreamSpecSchema = z
  .strictObject({ sync: StreamSync, destination: Destination, log: LogSettings.optional() })
  .refine((spec) => spec.sync.destination === spec.destination.id, {
    path: ['destination', 'id'],
    message: "does not match the sync's destination",
  });

const CohortSpecSchema = z
  .strictObject({ sync: CohortSync, destination: Destination })
  .refine((spec) => spec.sync.destination === spec.destination.id, {
    path: ['destination', 'id'],
    message: "does not match the sync's destination",
  });

/** A parsed cadence in the form a config file writes it (the schema parses that form only). */
function cadenceSource(cadence: unknown): unknown {
  if (typeof cadence !== 'object' || cadence === null) return cadence;
  const c = cadence as Partial<Cadence> & Record<string, unknown>;
  if (Object.keys(c).length > (c.kind === 'once' ? 1 : 2)) return cadence; // refused below
  if (c.kind === 'once') return 'once';
  if (c.kind === 'interval' && typeof c.everyMs === 'number') return `${c.everyMs}ms`;
  if (c.kind === 'cron' && typeof c.expression === 'string') return c.expression;
  return cadence;
}

function describe(error: z.ZodError): string {
  const problems = error.issues.slice(0, 5).map((issue) => {
    const field = issue.path
      .map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`))
      .join('');
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`
        : issue.message;
    return `${field.replace(/^\./, '') || 'spec'}: ${message}`;
  });
  const more = error.issues.length > 5 ? ` (and ${error.issues.length - 5} more)` : '';
  return `invalid spec: ${problems.join('; ')}${more}`;
}

/** Throws InvalidSpecError naming every problem (up to five) when `spec` is not a valid stream spec. */
export function assertStreamSyncSpec(spec: unknown): asserts spec is StreamSyncSpec {
  const result = StreamSpecSchema.safeParse(spec);
  if (!result.success) throw new InvalidSpecError(describe(result.error));
}

/** Throws InvalidSpecError naming every problem (up to five) when `spec` is not a valid cohort spec. */
export function assertCohortSyncSpec(spec: unknown): asserts spec is CohortSyncSpec {
  let input = spec;
  const sync = (spec as { sync?: unknown } | null)?.sync;
  if (typeof sync === 'object' && sync !== null && 'cadence' in sync) {
    input = {
      ...(spec as object),
      sync: { ...sync, cadence: cadenceSource((sync as { cadence: unknown }).cadence) },
    };
  }
  const result = CohortSpecSchema.safeParse(input);
  if (!result.success) throw new InvalidSpecError(describe(result.error));
}

import { z } from 'zod';

import type { Cadence } from './cadence.ts';
import {
  AUTO_GROW_BATCHES,
  AUTO_MAX_LANES,
  maxLanesOf,
  CohortSync,
  Destination,
  LogSettings,
  StreamSync,
  type CohortSyncSpec,
  type StreamSyncSpec,
} from './schema.ts';

// For the workflow, which may import only this module of config/.
export { AUTO_GROW_BATCHES, AUTO_MAX_LANES, maxLanesOf };

/**
 * Validates the spec a workflow is started or updated with against the config file's own schema.
 * Whoever can reach Temporal can send a spec without going through the CLI, so the workflow must
 * not trust one: a spec with a `null` list, an unknown field, a literal secret or a
 * `${VAR:-default}` is refused before it is applied, with the same messages a config file gets.
 *
 * Pure (zod only): the workflow bundle imports it (see the eslint override for src/workflows).
 * A spec is the schema's *output* (defaults applied, durations in ms); re-parsing it gives the
 * same value, except for a cohort's cadence, which is written back to its config form first.
 */

export class InvalidSpecError extends Error {
  override name = 'InvalidSpecError';
}

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

/** `host:port` of an http(s) URL, lower case (no URL object: this runs in the workflow sandbox). */
function hostOf(url: string): string {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url)?.[1] ?? url;
  return authority.slice(authority.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * An update may not move a live sync's credentials to another host: a `trackUrl`/`appUrl` override
 * whose host differs from the running spec's is refused, so one `updateConfig` cannot point a
 * sync's Basic auth at a listener of the sender's choosing. Going back to the region hosts, fixing
 * the path on the same host, and anything while the sync is a dry run (no credentials in use) are
 * allowed. A new workflow started with an override meets the worker's own check: overrides are
 * used only for hosts in CIO_SYNC_OVERRIDE_HOSTS.
 */
export function assertSameCredentialHosts(
  current: { destination: { trackUrl?: string; appUrl?: string; dryRun?: unknown } },
  next: { destination: { trackUrl?: string; appUrl?: string } },
): void {
  if (current.destination.dryRun === true) return;
  for (const field of ['trackUrl', 'appUrl'] as const) {
    const to = next.destination[field];
    if (to === undefined) continue;
    const from = current.destination[field];
    if (from !== undefined && hostOf(from) === hostOf(to)) continue;
    throw new InvalidSpecError(
      `destination.${field} cannot move a live sync's credentials to another host through ` +
        `updateConfig: ${JSON.stringify(from === undefined ? 'region host' : hostOf(from))} → ` +
        `${JSON.stringify(hostOf(to))}; start the sync anew to change it`,
    );
  }
}

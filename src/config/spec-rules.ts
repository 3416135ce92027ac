/**
 * The rules of a sync spec that workflow code applies itself: pure, and free of zod. The workflow
 * bundle imports this module and nothing else of config/ — a module the bundle imports is evaluated
 * again for every workflow (the SDK keeps each workflow's modules apart), and zod with the config
 * schema weighed about 1.3 MB per workflow. The schema check runs in the `checkSyncSpec` activity.
 */

/** The lanes an `auto` sync grows to under a backlog (from bench/throughput.ts: 4 lanes 2.5× one). */
export const AUTO_MAX_LANES = 4;
/** An `auto` sync grows when a lane's run ends more than this many full requests behind the head. */
export const AUTO_GROW_BATCHES = 4;

/** The most lanes a sync runs: its fixed count, or AUTO_MAX_LANES for `auto`. */
export function maxLanesOf(lanes: number | 'auto'): number {
  return lanes === 'auto' ? AUTO_MAX_LANES : lanes;
}

/** Failure type of a spec the schema refuses: the start (or the update) fails with it, for good. */
export const INVALID_SYNC_CONFIG = 'InvalidSyncConfig';

/** A spec refused: the message names the problems, in the words a config file's errors use. */
export class InvalidSpecError extends Error {
  override name = 'InvalidSpecError';
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
  next: { destination?: { trackUrl?: string; appUrl?: string } },
): void {
  if (current.destination.dryRun === true) return;
  for (const field of ['trackUrl', 'appUrl'] as const) {
    const to = next.destination?.[field];
    if (typeof to !== 'string') continue; // not a URL: the schema check refuses it
    const from = current.destination[field];
    if (from !== undefined && hostOf(from) === hostOf(to)) continue;
    throw new InvalidSpecError(
      `destination.${field} cannot move a live sync's credentials to another host through ` +
        `updateConfig: ${JSON.stringify(from === undefined ? 'region host' : hostOf(from))} → ` +
        `${JSON.stringify(hostOf(to))}; start the sync anew to change it`,
    );
  }
}

/**
 * What an update's validator checks of a replacement spec before it is accepted: the
 * `{ sync, destination }` shape, credentials kept on their host, the same sync id and type.
 * Throwing rejects the update before it reaches history; the config file's schema (no null lists,
 * unknown fields or literal secrets) is checked by the handler (`checkSyncSpec`).
 */
export function assertUpdateShape(
  type: 'stream' | 'cohort',
  current: { sync: { id: string }; destination: { trackUrl?: string; appUrl?: string; dryRun?: unknown } },
  next: { sync?: { id?: unknown; type?: unknown }; destination?: { trackUrl?: string; appUrl?: string } },
): void {
  if (
    typeof next?.sync !== 'object' ||
    typeof next.destination !== 'object' ||
    !next.sync ||
    !next.destination
  )
    throw new Error('updateConfig needs { sync, destination }');
  assertSameCredentialHosts(current, next);
  if (next.sync.id !== current.sync.id)
    throw new Error(`sync id cannot change (${current.sync.id} → ${String(next.sync.id)})`);
  if (next.sync.type !== type) throw new Error(`a ${type} sync cannot become another type`);
}

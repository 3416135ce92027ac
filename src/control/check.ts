import type { Destination } from '../config/schema.ts';
import { MissingEnvError, resolveEnv, tryResolveEnv } from '../config/env.ts';
import { CustomerIoClient } from '../customerio/client.ts';
import { resolveHosts } from '../customerio/hosts.ts';

export interface CheckResult {
  destination: string;
  ok: boolean;
  /** What Customer.io says about the Track credentials. */
  track: { ok: boolean; region?: string; environmentId?: number; configuredRegion: string; message?: string };
  /** The App API key, when one is configured. */
  app?: { ok: boolean; segments?: number; message?: string };
}

/**
 * Verifies a destination's credentials and region against Customer.io, with the secrets of the
 * environment this runs in (the operator's shell, or a worker's environment).
 */
export async function checkDestination(
  destination: Destination,
  env: NodeJS.ProcessEnv,
): Promise<CheckResult> {
  let siteId: string, trackApiKey: string;
  try {
    siteId = resolveEnv(destination.siteId, `destination ${destination.id} siteId`, env);
    trackApiKey = resolveEnv(destination.trackApiKey, `destination ${destination.id} trackApiKey`, env);
  } catch (err) {
    if (!(err instanceof MissingEnvError)) throw err;
    return {
      destination: destination.id,
      ok: false,
      track: { ok: false, configuredRegion: destination.region, message: err.message },
    };
  }
  const appApiKey = destination.appApiKey ? tryResolveEnv(destination.appApiKey, env) : undefined;
  // The region endpoint answers on either host, so ask the configured one (or the US host for auto).
  const client = new CustomerIoClient({
    hosts: resolveHosts(destination.region === 'eu' ? 'eu' : 'us', {
      trackUrl: destination.trackUrl,
      appUrl: destination.appUrl,
    }),
    siteId,
    trackApiKey,
    appApiKey: appApiKey || undefined,
    timeoutMs: destination.timeout,
  });
  try {
    const result: CheckResult = {
      destination: destination.id,
      ok: true,
      track: { ok: false, configuredRegion: destination.region },
    };
    const region = await client.getAccountRegion();
    if (region.outcome.kind === 'ok') {
      const body = region.outcome.body as { region?: string; environment_id?: number };
      result.track = {
        ok: true,
        region: body.region,
        environmentId: body.environment_id,
        configuredRegion: destination.region,
      };
      if (destination.region !== 'auto' && body.region && body.region !== destination.region) {
        result.track.ok = false;
        result.track.message = `the credentials belong to the ${body.region} region, but the destination says ${destination.region}`;
      }
    } else {
      result.track.message =
        'message' in region.outcome ? region.outcome.message : `HTTP ${region.outcome.status}`;
    }
    if (destination.appApiKey) {
      if (!appApiKey) {
        result.app = { ok: false, message: `environment variable for appApiKey is not set` };
      } else {
        const segments = await client.listSegments();
        result.app =
          segments.outcome.kind === 'ok'
            ? {
                ok: true,
                segments: ((segments.outcome.body as { segments?: unknown[] }).segments ?? []).length,
              }
            : {
                ok: false,
                message:
                  'message' in segments.outcome
                    ? segments.outcome.message
                    : `HTTP ${segments.outcome.status}`,
              };
      }
    }
    result.ok = result.track.ok && (result.app?.ok ?? true);
    return result;
  } finally {
    await client.close();
  }
}

/**
 * Auth per API, as Customer.io documents it: the Track API takes HTTP Basic `site_id:track_api_key`,
 * the App API a Bearer App API key; anything else (including one API's credential sent to the
 * other) is a `401` with Customer.io's bare "Unauthorized request" body.
 */
import type { FakeResponse, RecordedRequest } from './shared.ts';

export interface FakeCredentials {
  siteId: string;
  trackApiKey: string;
  /** undefined: every App API call is unauthorized. */
  appApiKey: string | undefined;
}

export function initialCredentials(given: {
  siteId?: string;
  trackApiKey?: string;
  appApiKey?: string;
}): FakeCredentials {
  return {
    siteId: given.siteId ?? 'site-id',
    trackApiKey: given.trackApiKey ?? 'track-key',
    appApiKey: given.appApiKey ?? 'app-key',
  };
}

/** The `401` for a request whose credentials do not fit its API, else undefined. */
export function checkAuth(rec: RecordedRequest, credentials: FakeCredentials): FakeResponse | undefined {
  const header = rec.headers['authorization'] ?? '';
  const unauthorized: FakeResponse = { status: 401, body: 'Unauthorized request' };
  if (rec.api === 'track') {
    const m = /^Basic\s+(\S+)$/i.exec(header);
    if (!m) return unauthorized;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return unauthorized;
    const site = decoded.slice(0, colon);
    const key = decoded.slice(colon + 1);
    if (site !== credentials.siteId || key !== credentials.trackApiKey) return unauthorized;
    return undefined;
  }
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m || credentials.appApiKey === undefined || m[1] !== credentials.appApiKey) return unauthorized;
  return undefined;
}

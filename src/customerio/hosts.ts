/**
 * Customer.io base URLs per data-center region. The Track API (Basic auth, people/events/segment
 * membership) and the App API (Bearer auth, segment definitions) live on different hosts, and
 * regions differ only by subdomain.
 */
export type CioRegion = 'us' | 'eu';

export const CIO_REGIONS: readonly CioRegion[] = ['us', 'eu'];

export interface CioHosts {
  /** Track API origin, no trailing slash (paths start with `/api/v1` or `/api/v2`). */
  trackUrl: string;
  /** App API origin, no trailing slash (paths start with `/v1`). */
  appUrl: string;
}

export interface CioHostOverrides {
  trackUrl?: string;
  appUrl?: string;
}

export const REGION_HOSTS: Readonly<Record<CioRegion, Readonly<CioHosts>>> = {
  us: { trackUrl: 'https://track.customer.io', appUrl: 'https://api.customer.io' },
  eu: { trackUrl: 'https://track-eu.customer.io', appUrl: 'https://api-eu.customer.io' },
};

export function isCioRegion(value: unknown): value is CioRegion {
  return value === 'us' || value === 'eu';
}

/**
 * Overrides exist for tests and proxies (e.g. a fake server on 127.0.0.1). They are validated here so a
 * typo in config fails at startup instead of as a stream of transport errors during a sync.
 */
export function resolveHosts(region: CioRegion, overrides: CioHostOverrides = {}): CioHosts {
  if (!isCioRegion(region))
    throw new Error(`unknown Customer.io region ${JSON.stringify(region)} (use 'us' or 'eu')`);
  const base = REGION_HOSTS[region];
  return {
    trackUrl:
      overrides.trackUrl !== undefined ? normalizeBaseUrl(overrides.trackUrl, 'trackUrl') : base.trackUrl,
    appUrl: overrides.appUrl !== undefined ? normalizeBaseUrl(overrides.appUrl, 'appUrl') : base.appUrl,
  };
}

function normalizeBaseUrl(value: string, name: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`Customer.io ${name} override is not a valid URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`Customer.io ${name} override must be http(s), got ${url.protocol}`);
  }
  // Credentials in a URL would leak into logs and request records; auth goes in headers only.
  if (url.username || url.password)
    throw new Error(`Customer.io ${name} override must not embed credentials`);
  if (url.search || url.hash)
    throw new Error(`Customer.io ${name} override must not carry a query or fragment`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** Guards and own-property writes for untyped JSON data (request bodies, properties, traits, context). */

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The object under `key`, or an empty one: context fields are optional at every level. */
export function objectAt(parent: Record<string, unknown> | undefined, key: string): Record<string, unknown> {
  const value = parent?.[key];
  return isPlainObject(value) ? value : {};
}

/** A string with something in it; blank strings mean "not given" in every source we read. */
export function nonBlank(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/**
 * `target[key] = value` that also works for a key named `__proto__` (JSON.parse makes it an own
 * property of ingested data): plain assignment would swap the target's prototype and lose the value.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Copies own enumerable properties with setOwn, later sources winning. */
export function assignOwn(target: Record<string, unknown>, ...sources: Record<string, unknown>[]): void {
  for (const source of sources) for (const [key, value] of Object.entries(source)) setOwn(target, key, value);
}

/** Amplitude's user property operations ($set, $add, $append, …) applied to a user's remembered properties. */
import { AMPLITUDE_OPERATION_ORDER, AMPLITUDE_USER_PROPERTY_OPERATIONS } from '../events/amplitude.ts';
import { isPlainObject, setOwn } from '../json-values.ts';
import { MAX_WALK_DEPTH, TooDeepError } from './stable-hash.ts';

/**
 * Amplitude's user property operations applied to the user properties the engine remembers, so that
 * Customer.io gets absolute values (never increments: a redelivered request must not add twice).
 *
 * Semantics, from Amplitude's docs and its SDK:
 * - Order within one `user_properties` object: `$clearAll`, `$unset`, `$set`, `$setOnce`, `$add`,
 *   `$append`, `$prepend`, `$preInsert`, `$postInsert`, `$remove`, then plain (non-operation) keys
 *   as a final `$set`. This is `OrderedIdentifyOperations` and `getOperationAppliedUserProperties` of
 *   @amplitude/analytics-core (lib/esm/identify.js, core-client.js, v2.57.0), which say they follow
 *   the order Amplitude's ingestion applies. So `$set` + `$setOnce` of one property: `$set` wins.
 * - `$setOnce` sets only a property that has no value (Identify API docs: "only if the value hasn't
 *   already been set").
 * - `$add` starts from 0 when the property has no value (iOS/JS SDK docs: "initialized to 0"); the
 *   amount may be a number or a numeric string (Amplitude-JavaScript docs: "numbers as strings").
 * - `$append` / `$prepend` start from `[]`, turn a scalar into `[scalar]`, and add every element of
 *   an array value (or the value itself), without dedupe; `$preInsert` / `$postInsert` do the same
 *   but skip values already in the list (iOS SDK docs "Use arrays in user properties").
 * - `$remove` removes every occurrence of the values from a list; "If the item doesn't exist in the
 *   user property, nothing is removed" (iOS SDK docs).
 * - `$unset` removes a property; `$clearAll` removes them all (their values are the placeholder `-`).
 *
 * Edge cases the docs leave open, decided here:
 * - `$add` on a value that is neither a number nor a numeric string, or with such an amount, is
 *   skipped: inventing a number would put made-up data in Customer.io.
 * - `$remove` on a missing property leaves it missing; on a scalar equal to a removed value it
 *   leaves `[]` (the scalar counts as a one-element list, as for `$append`); other scalars stay.
 * - `null` (in `$set`, a plain key or a Segment trait) means "no value": the attribute is removed,
 *   matching how filters already read a null property as absent.
 * - Values are compared as JSON: `{a:1,b:2}` equals `{b:2,a:1}`; `1` does not equal `'1'`.
 */

export type UserProperties = Record<string, unknown>;

/**
 * How a record's user properties are read:
 * - `operations`: Amplitude `$identify` events and Identify API calls; operations are applied, plain
 *   keys are a final `$set`.
 * - `plain`: Amplitude events other than `$identify`; Amplitude honours operations only on
 *   `$identify` (HTTP V2 docs), so operation keys are ignored and plain keys are set.
 * - `traits`: Segment traits; there are no operations, every key is a value.
 */
export type UserPropertiesMode = 'operations' | 'plain' | 'traits';

/**
 * `state` with the record's `props` applied: a new object, `state` is untouched. Only properties
 * `tracked` says are followed (the selected ones); operations on others are ignored.
 */
export function applyUserProperties(
  state: Readonly<UserProperties>,
  props: unknown,
  mode: UserPropertiesMode,
  tracked: (name: string) => boolean,
): UserProperties {
  const next: UserProperties = {};
  for (const [key, value] of Object.entries(state)) setOwn(next, key, value);
  if (!isPlainObject(props)) return next;

  if (mode === 'operations') {
    for (const op of AMPLITUDE_OPERATION_ORDER) {
      if (Object.hasOwn(props, op)) applyOperation(next, op, props[op], tracked);
    }
  }
  for (const [key, value] of Object.entries(props)) {
    if (mode !== 'traits' && AMPLITUDE_USER_PROPERTY_OPERATIONS.has(key)) continue;
    if (tracked(key)) put(next, key, value);
  }
  return next;
}

function applyOperation(
  next: UserProperties,
  op: (typeof AMPLITUDE_OPERATION_ORDER)[number],
  arg: unknown,
  tracked: (name: string) => boolean,
): void {
  if (op === '$clearAll') {
    for (const key of Object.keys(next)) delete next[key];
    return;
  }
  // `$unset` is documented as an object of `name: "-"`; a list of names is accepted too.
  const entries: Array<[string, unknown]> =
    op === '$unset' && Array.isArray(arg)
      ? arg.filter((k): k is string => typeof k === 'string').map((k) => [k, '-'])
      : isPlainObject(arg)
        ? Object.entries(arg)
        : [];
  for (const [key, value] of entries) {
    if (!tracked(key)) continue;
    const current = present(next, key) ? next[key] : undefined;
    switch (op) {
      case '$unset':
        delete next[key];
        break;
      case '$set':
        put(next, key, value);
        break;
      case '$setOnce':
        if (current === undefined) put(next, key, value);
        break;
      case '$add': {
        const base = current === undefined ? 0 : toNumber(current);
        const amount = toNumber(value);
        if (base !== undefined && amount !== undefined && Number.isFinite(base + amount)) {
          setOwn(next, key, base + amount);
        }
        break;
      }
      case '$append':
      case '$prepend':
      case '$preInsert':
      case '$postInsert': {
        const list = current === undefined ? [] : Array.isArray(current) ? [...current] : [current];
        let values = (Array.isArray(value) ? value : [value]).filter((v) => v !== undefined && v !== null);
        if (op === '$preInsert' || op === '$postInsert') {
          const kept: unknown[] = [];
          for (const v of values) {
            if (!list.some((x) => jsonEqual(x, v)) && !kept.some((x) => jsonEqual(x, v))) kept.push(v);
          }
          values = kept;
        }
        setOwn(
          next,
          key,
          op === '$append' || op === '$postInsert' ? [...list, ...values] : [...values, ...list],
        );
        break;
      }
      case '$remove': {
        if (current === undefined) break;
        const removed = Array.isArray(value) ? value : [value];
        const hit = (x: unknown) => removed.some((r) => jsonEqual(x, r));
        if (Array.isArray(current))
          setOwn(
            next,
            key,
            current.filter((x) => !hit(x)),
          );
        else if (hit(current)) setOwn(next, key, []);
        break;
      }
    }
  }
}

/** A value sets the property; `null` / `undefined` remove it (no value). */
function put(target: UserProperties, key: string, value: unknown): void {
  if (value === null || value === undefined) delete target[key];
  else setOwn(target, key, value);
}

function present(props: Readonly<UserProperties>, key: string): boolean {
  return Object.hasOwn(props, key) && props[key] !== undefined && props[key] !== null;
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && /^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(value)) {
    return Number(value);
  }
  return undefined;
}

/**
 * The tracked properties whose value differs between `sent` (what Customer.io has) and `next`: the
 * ones still in `next` first, in its order, then the ones `next` no longer has.
 */
export function changedProperties(
  sent: Readonly<UserProperties>,
  next: Readonly<UserProperties>,
  tracked: (name: string) => boolean,
): string[] {
  const changed: string[] = [];
  for (const key of Object.keys(next)) {
    if (tracked(key) && !jsonEqual(valueOf(sent, key), valueOf(next, key))) changed.push(key);
  }
  for (const key of Object.keys(sent)) {
    if (tracked(key) && valueOf(next, key) === undefined && valueOf(sent, key) !== undefined) {
      changed.push(key);
    }
  }
  return changed;
}

function valueOf(props: Readonly<UserProperties>, key: string): unknown {
  return present(props, key) ? props[key] : undefined;
}

/** Equality of JSON values: deep, object key order ignored, no type coercion. */
export function jsonEqual(a: unknown, b: unknown, depth = 0): boolean {
  if (a === b) return true;
  if (depth > MAX_WALK_DEPTH) throw new TooDeepError();
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((x, i) => jsonEqual(x, b[i], depth + 1))
    );
  }
  const ak = Object.keys(a).filter((k) => (a as UserProperties)[k] !== undefined);
  const bk = Object.keys(b).filter((k) => (b as UserProperties)[k] !== undefined);
  return (
    ak.length === bk.length &&
    ak.every(
      (k) => Object.hasOwn(b, k) && jsonEqual((a as UserProperties)[k], (b as UserProperties)[k], depth + 1),
    )
  );
}

/**
 * `attributes` updated with what an identify carried: a value sets, `null` removes. A new object.
 */
export function applyPatch(
  attributes: Readonly<UserProperties>,
  patch: Readonly<UserProperties>,
): UserProperties {
  const next: UserProperties = {};
  for (const [key, value] of Object.entries(attributes)) setOwn(next, key, value);
  for (const [key, value] of Object.entries(patch)) put(next, key, value);
  return next;
}

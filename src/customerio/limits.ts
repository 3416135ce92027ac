/**
 * Customer.io Track/App API limits (docs.customer.io Track API spec, "Limits" tables) and pure checks
 * against them. Checks return a reason string, or undefined when the value fits. Sizes are UTF-8 bytes:
 * the documented limits are byte limits, and non-ASCII text is longer in bytes than in characters.
 *
 * "KB" in Customer.io's docs means kilobytes (they clarified "500kb" that way), read here as 1000 bytes:
 * if they meant 1024 the decimal reading is still under it, so the decimal value is safe either way.
 */

export const MAX_IDENTIFIER_BYTES = 150;
export const MAX_ATTRIBUTE_NAME_BYTES = 150;
export const MAX_ATTRIBUTE_VALUE_BYTES = 1000;
/** Unique attributes per person, and per identify call. */
export const MAX_ATTRIBUTES = 300;
export const MAX_EVENT_NAME_BYTES = 100;
export const MAX_EVENT_DATA_BYTES = 100_000;
/** `/api/v2/entity` request and each `/api/v2/batch` item: documented as "≤ 32 KB" (see the note above). */
export const MAX_ENTITY_BYTES = 32_000;
export const MAX_BATCH_ITEM_BYTES = 32_000;
/** Whole `/api/v2/batch` request body, documented as "≤ 500 KB". */
export const MAX_BATCH_BYTES = 500_000;
/** Bytes `{"batch":[]}` adds around the items; items are joined by one comma each. */
export const BATCH_ENVELOPE_BYTES = Buffer.byteLength('{"batch":[]}');
/** `add_customers` / `remove_customers` accept 1..1000 ids per call. */
export const MAX_SEGMENT_IDS_PER_CALL = 1000;
/** App API: most endpoints answer 429 above 10 requests/second. */
export const APP_API_REQUESTS_PER_SECOND = 10;
/**
 * Track API: the spec states a 1000 req/s fair-use limit, older docs and third parties say 100 or 30;
 * 100 is the conservative default to configure against.
 */
export const TRACK_API_FAIR_USE_REQUESTS_PER_SECOND = 1000;
export const DEFAULT_TRACK_REQUESTS_PER_SECOND = 100;
/** App API segment membership paging (`GET /v1/segments/{id}/membership`): `limit` ≤ 30000. */
export const MAX_SEGMENT_MEMBERSHIP_PAGE = 30_000;
/** The page size that membership call uses when `limit` is not given (App API spec: default 1000). */
export const DEFAULT_SEGMENT_MEMBERSHIP_PAGE = 1000;

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Size of a value as Customer.io receives it: compact JSON, which is how the client serializes bodies. */
export function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value);
  return text === undefined ? 0 : utf8Bytes(text);
}

/** Size of `{"batch":[...]}` for items whose serialized sizes are given. */
export function batchBytes(itemBytes: readonly number[]): number {
  if (itemBytes.length === 0) return BATCH_ENVELOPE_BYTES;
  return BATCH_ENVELOPE_BYTES + itemBytes.reduce((sum, n) => sum + n, 0) + itemBytes.length - 1;
}

/** A person identifier value (`id`, `email`, `cio_id`, segment member id). */
export function checkIdentifierValue(value: unknown): string | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return 'identifier must be a finite number or a string';
    value = String(value);
  }
  if (typeof value !== 'string') return `identifier must be a string, got ${typeOf(value)}`;
  if (value.trim() === '') return 'identifier is empty';
  const bytes = utf8Bytes(value);
  if (bytes > MAX_IDENTIFIER_BYTES) return `identifier is ${bytes} bytes, limit ${MAX_IDENTIFIER_BYTES}`;
  return undefined;
}

/** Event (and page/screen) name. Customer.io trims surrounding spaces, so a blank name is no name. */
export function checkEventName(name: unknown): string | undefined {
  if (typeof name !== 'string') return `event name must be a string, got ${typeOf(name)}`;
  if (name.trim() === '') return 'event name is empty';
  const bytes = utf8Bytes(name.trim());
  if (bytes > MAX_EVENT_NAME_BYTES) return `event name is ${bytes} bytes, limit ${MAX_EVENT_NAME_BYTES}`;
  return undefined;
}

/** Event `data` (v1) / `attributes` (v2 event ops). Absent data is fine. */
export function checkEventData(data: unknown): string | undefined {
  if (data === undefined || data === null) return undefined;
  if (typeof data !== 'object' || Array.isArray(data))
    return `event data must be an object, got ${typeOf(data)}`;
  const bytes = jsonBytes(data);
  if (bytes > MAX_EVENT_DATA_BYTES) return `event data is ${bytes} bytes, limit ${MAX_EVENT_DATA_BYTES}`;
  return undefined;
}

/**
 * Person attributes of one identify call: count, name size, value size. Strings are measured as their
 * bytes; other values as their JSON text, which is what Customer.io stores for them.
 */
export function checkAttributes(attributes: unknown): string | undefined {
  if (attributes === undefined || attributes === null) return undefined;
  if (typeof attributes !== 'object' || Array.isArray(attributes)) {
    return `attributes must be an object, got ${typeOf(attributes)}`;
  }
  const entries = Object.entries(attributes);
  if (entries.length > MAX_ATTRIBUTES) return `${entries.length} attributes, limit ${MAX_ATTRIBUTES}`;
  for (const [name, value] of entries) {
    const nameBytes = utf8Bytes(name);
    if (nameBytes > MAX_ATTRIBUTE_NAME_BYTES) {
      return `attribute name '${preview(name)}' is ${nameBytes} bytes, limit ${MAX_ATTRIBUTE_NAME_BYTES}`;
    }
    const valueBytes = attributeValueBytes(value);
    if (valueBytes > MAX_ATTRIBUTE_VALUE_BYTES) {
      return `value for attribute '${preview(name)}' is ${valueBytes} bytes, limit ${MAX_ATTRIBUTE_VALUE_BYTES}`;
    }
  }
  return undefined;
}

export function attributeValueBytes(value: unknown): number {
  return typeof value === 'string' ? utf8Bytes(value) : jsonBytes(value);
}

/** One `/api/v2/batch` operation (or an `/api/v2/entity` body), measured serialized. */
export function checkBatchItem(op: unknown): string | undefined {
  const bytes = jsonBytes(op);
  if (bytes > MAX_BATCH_ITEM_BYTES)
    return `operation is ${bytes} bytes serialized, limit ${MAX_BATCH_ITEM_BYTES}`;
  return undefined;
}

/** A whole `/api/v2/batch` request (`{ batch: ops }`), measured serialized. */
export function checkBatch(ops: readonly unknown[]): string | undefined {
  if (ops.length === 0) return 'batch is empty';
  const bytes = jsonBytes({ batch: ops });
  if (bytes > MAX_BATCH_BYTES) return `batch is ${bytes} bytes serialized, limit ${MAX_BATCH_BYTES}`;
  return undefined;
}

/** The id list of one `add_customers` / `remove_customers` call. */
export function checkSegmentIds(ids: readonly unknown[]): string | undefined {
  if (ids.length === 0) return 'segment membership call needs at least one id';
  if (ids.length > MAX_SEGMENT_IDS_PER_CALL) {
    return `${ids.length} ids in one segment membership call, limit ${MAX_SEGMENT_IDS_PER_CALL}`;
  }
  for (let i = 0; i < ids.length; i++) {
    const reason = checkIdentifierValue(ids[i]);
    if (reason !== undefined) return `ids[${i}]: ${reason}`;
  }
  return undefined;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function preview(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

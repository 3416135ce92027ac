/**
 * The Track API (`/api/v1/…`, `/api/v2/…`): routes, request validation against the limits, v1 answers
 * (`200 {}`, `400 {meta:{errors}}`), v2 entity/batch with per-item `207` errors and the other items
 * applied, manual-segment membership, and flagged timestamps that are not Unix seconds.
 */
import { attributesProblem, eventProblem, identifierProblem, type FakeLimits } from './limits.ts';
import {
  isRecord,
  nowSeconds,
  ok,
  splitPath,
  v1Error,
  v2Error,
  type FakeIdentifier,
  type FakeIdType,
  type FakeResponse,
  type ItemError,
  type RecordedRequest,
} from './shared.ts';
import {
  relate,
  stripReserved,
  unrelate,
  type FakePerson,
  type FakeSegmentMember,
  type FakeWorkspace,
  type TimestampViolation,
} from './workspace.ts';

const REGION_URLS = { us: 'https://track.customer.io', eu: 'https://track-eu.customer.io' } as const;
/** Largest plausible Unix-seconds value (year 5138); epoch milliseconds of today are ~1.7e12. */
const MAX_UNIX_SECONDS = 1e11;

export interface TrackOptions {
  region?: 'us' | 'eu';
  environmentId?: number;
  oversizeStatus?: 400 | 413;
}

export class TrackApi {
  readonly #ws: FakeWorkspace;
  readonly #limits: FakeLimits;
  readonly #options: TrackOptions;

  constructor(ws: FakeWorkspace, limits: FakeLimits, options: TrackOptions) {
    this.#ws = ws;
    this.#limits = limits;
    this.#options = options;
  }

  /** Answers an authorized, unthrottled Track request (state changes happen here). */
  handle(rec: RecordedRequest): FakeResponse {
    const seg = splitPath(rec.rawPath);
    if (seg === undefined) return v1Error(400, 'invalid path encoding');
    const m = rec.method;
    const writes = m === 'POST' || m === 'PUT';
    if (writes && rec.bodyText.trim() !== '' && rec.body === undefined) {
      return seg[1] === 'v2'
        ? v2Error(400, 'invalid_json', '', 'request body is not valid JSON')
        : v1Error(400, 'invalid JSON body');
    }
    const [, version, a, b, c, d, ...rest] = seg;
    if (version === 'v1') {
      if (a === 'accounts' && b === 'region' && c === undefined && m === 'GET') return this.#region();
      if (a === 'customers' && b !== undefined && rest.length === 0) {
        if (c === undefined && m === 'PUT') return this.#v1Identify(rec, b);
        if (c === undefined && m === 'DELETE') return this.#v1Delete(rec, b);
        if (c === 'events' && d === undefined && m === 'POST') return this.#v1Event(rec, b);
        if (c === 'devices' && d === undefined && m === 'PUT') return this.#v1Device(rec, b);
        if (c === 'devices' && d !== undefined && m === 'DELETE') return this.#v1DeleteDevice(rec, d);
        if ((c === 'suppress' || c === 'unsuppress') && d === undefined && m === 'POST') {
          return this.#v1Suppress(b, c === 'suppress');
        }
      }
      if (a === 'events' && b === undefined && m === 'POST') return this.#v1AnonymousEvent(rec);
      if (a === 'merge_customers' && b === undefined && m === 'POST') return this.#v1Merge(rec);
      if (
        a === 'segments' &&
        b !== undefined &&
        (c === 'add_customers' || c === 'remove_customers') &&
        d === undefined
      ) {
        if (m === 'POST') return this.#segmentMembership(rec, b, c === 'add_customers');
      }
    }
    if (version === 'v2' && b === undefined && m === 'POST') {
      if (a === 'entity') return this.#v2Entity(rec);
      if (a === 'batch') return this.#v2Batch(rec);
    }
    return v1Error(404, `no route for ${m} ${rec.path}`);
  }

  #region(): FakeResponse {
    const region = this.#options.region ?? 'us';
    return {
      status: 200,
      body: { url: REGION_URLS[region], region, environment_id: this.#options.environmentId ?? 1 },
    };
  }

  #v1Identify(rec: RecordedRequest, pathId: string): FakeResponse {
    const body = rec.body;
    if (!isRecord(body)) return v1Error(400, 'request body must be a JSON object');
    const ident = inferIdentifier(pathId);
    const problem =
      identifierProblem(this.#limits, ident.value) ?? attributesProblem(this.#limits, stripReserved(body));
    if (problem) return v1Error(400, problem);
    this.#checkTimestamp(rec, 'created_at', body['created_at']);
    this.#checkTimestamp(rec, '_timestamp', body['_timestamp']);
    this.#ws.identify(rec, ident, body, body['_update'] === true);
    return ok();
  }

  #v1Delete(rec: RecordedRequest, pathId: string): FakeResponse {
    this.#ws.deletePerson(rec, inferIdentifier(pathId), 'delete');
    return ok();
  }

  #v1Suppress(pathId: string, suppress: boolean): FakeResponse {
    const ident = inferIdentifier(pathId);
    if (suppress) this.#ws.suppress(ident);
    else this.#ws.unsuppress(ident);
    return ok();
  }

  #v1Event(rec: RecordedRequest, pathId: string): FakeResponse {
    const body = rec.body;
    if (!isRecord(body)) return v1Error(400, 'request body must be a JSON object');
    const ident = inferIdentifier(pathId);
    const problem =
      identifierProblem(this.#limits, ident.value) ??
      eventProblem(this.#limits, body['name'], body['type'], body['data']);
    if (problem) return v1Error(400, problem);
    this.#checkTimestamp(rec, 'timestamp', body['timestamp']);
    if (this.#ws.isSuppressed(ident)) {
      this.#ws.drops.push({ requestSeq: rec.seq, reason: 'event: identifier suppressed' });
      return ok();
    }
    this.#ws.storeEvent(rec, body, 'v1', { identifier: ident });
    return ok();
  }

  #v1AnonymousEvent(rec: RecordedRequest): FakeResponse {
    const body = rec.body;
    if (!isRecord(body)) return v1Error(400, 'request body must be a JSON object');
    const problem = eventProblem(this.#limits, body['name'], body['type'], body['data']);
    if (problem) return v1Error(400, problem);
    this.#checkTimestamp(rec, 'timestamp', body['timestamp']);
    const anon =
      typeof body['anonymous_id'] === 'string' && body['anonymous_id'] !== ''
        ? body['anonymous_id']
        : undefined;
    this.#ws.storeEvent(rec, body, 'v1', anon !== undefined ? { anonymousId: anon } : {});
    return ok();
  }

  #v1Device(rec: RecordedRequest, pathId: string): FakeResponse {
    const device = isRecord(rec.body) ? rec.body['device'] : undefined;
    if (!isRecord(device)) return v1Error(400, 'device is required');
    if (typeof device['id'] !== 'string' || device['id'] === '') return v1Error(400, 'device id is required');
    if (typeof device['platform'] !== 'string' || device['platform'] === '')
      return v1Error(400, 'device platform is required');
    this.#checkTimestamp(rec, 'device.last_used', device['last_used']);
    this.#ws.putDevice(inferIdentifier(pathId), device['id'], device);
    return ok();
  }

  #v1DeleteDevice(rec: RecordedRequest, token: string): FakeResponse {
    if (!this.#ws.devices.delete(token))
      this.#ws.drops.push({ requestSeq: rec.seq, reason: 'delete_device: unknown token' });
    return ok();
  }

  #v1Merge(rec: RecordedRequest): FakeResponse {
    const body = rec.body;
    if (!isRecord(body))
      return { status: 400, body: { meta: { error: 'request body must be a JSON object' } } };
    const primary = singleIdentifier(body['primary']);
    const secondary = singleIdentifier(body['secondary']);
    if (typeof primary === 'string') return { status: 400, body: { meta: { error: `primary: ${primary}` } } };
    if (typeof secondary === 'string')
      return { status: 400, body: { meta: { error: `secondary: ${secondary}` } } };
    this.#ws.merge(rec, primary, secondary);
    return ok();
  }

  #v2Entity(rec: RecordedRequest): FakeResponse {
    const tooLarge = this.#oversize(rec, this.#limits.entityBytes, '');
    if (tooLarge) return tooLarge;
    const error = this.#applyOp(rec, rec.body, 'entity');
    if (error) return { status: 400, body: { errors: [error] } };
    return ok();
  }

  #v2Batch(rec: RecordedRequest): FakeResponse {
    const tooLarge = this.#oversize(rec, this.#limits.batchBytes, 'batch');
    if (tooLarge) return tooLarge;
    const batch = isRecord(rec.body) ? rec.body['batch'] : undefined;
    if (!Array.isArray(batch))
      return v2Error(400, 'required', 'batch', 'batch must be an array of operations');
    if (batch.length === 0)
      return v2Error(400, 'invalid', 'batch', 'batch must contain at least one operation');
    const errors: ItemError[] = [];
    batch.forEach((op, index) => {
      const bytes = Buffer.byteLength(JSON.stringify(op) ?? '');
      if (bytes > this.#limits.itemBytes) {
        errors.push({
          batch_index: index,
          reason: 'too_large',
          field: '',
          message: `operation is ${bytes} bytes, limit ${this.#limits.itemBytes}`,
        });
        return;
      }
      const error = this.#applyOp(rec, op, `batch[${index}]`);
      if (error) errors.push({ batch_index: index, ...error });
    });
    if (errors.length > 0) return { status: 207, body: { errors } };
    return ok();
  }

  /** The whole-request answer for a v2 body over `limit` bytes (400, or `oversizeStatus`). */
  #oversize(rec: RecordedRequest, limit: number, field: string): FakeResponse | undefined {
    const size = Buffer.byteLength(rec.bodyText);
    if (size <= limit) return undefined;
    const status = this.#options.oversizeStatus ?? 400;
    return v2Error(status, 'too_large', field, `request is ${size} bytes, limit ${limit}`);
  }

  /** Validates one v2 operation and applies it when valid; returns the error otherwise. */
  #applyOp(rec: RecordedRequest, op: unknown, where: string): ItemError | undefined {
    if (!isRecord(op)) return { reason: 'invalid', field: '', message: 'operation must be an object' };
    const type = op['type'];
    const action = op['action'];
    if (type === 'object' || type === 'delivery') {
      if (!isRecord(op['identifiers']))
        return { reason: 'required', field: 'identifiers', message: 'identifiers are required' };
      if (typeof action !== 'string')
        return { reason: 'required', field: 'action', message: 'action is required' };
      this.#ws.otherOps.push(op);
      return type === 'object' ? this.#applyObjectOp(rec, op, action) : undefined;
    }
    if (type !== 'person')
      return { reason: 'invalid', field: 'type', message: `unknown type ${JSON.stringify(type)}` };
    if (typeof action !== 'string')
      return { reason: 'required', field: 'action', message: 'action is required' };

    if (action === 'merge') {
      const primary = singleIdentifier(op['primary']);
      const secondary = singleIdentifier(op['secondary']);
      if (typeof primary === 'string') return { reason: 'invalid', field: 'primary', message: primary };
      if (typeof secondary === 'string') return { reason: 'invalid', field: 'secondary', message: secondary };
      if (this.#ws.isSuppressed(primary) || this.#ws.isSuppressed(secondary)) {
        this.#ws.drops.push({ requestSeq: rec.seq, reason: `${where}: merge of a suppressed identifier` });
        return undefined;
      }
      this.#ws.merge(rec, primary, secondary);
      return undefined;
    }

    const ident = singleIdentifier(op['identifiers'], true);
    if (typeof ident === 'string') return { reason: 'invalid', field: 'identifiers', message: ident };
    const idProblem = identifierProblem(this.#limits, ident.value);
    if (idProblem) return { reason: 'too_long', field: `identifiers.${ident.type}`, message: idProblem };
    this.#checkTimestamp(rec, `${where}.timestamp`, op['timestamp']);

    switch (action) {
      case 'identify': {
        const attributes = op['attributes'] ?? {};
        if (!isRecord(attributes))
          return { reason: 'invalid', field: 'attributes', message: 'attributes must be an object' };
        const problem = attributesProblem(this.#limits, stripReserved(attributes));
        if (problem) return { reason: 'invalid', field: 'attributes', message: problem };
        this.#checkTimestamp(rec, `${where}.attributes.created_at`, attributes['created_at']);
        const timestamp = typeof op['timestamp'] === 'number' ? op['timestamp'] : undefined;
        this.#ws.identify(rec, ident, attributes, attributes['_update'] === true, timestamp);
        return undefined;
      }
      case 'event':
      case 'page':
      case 'screen': {
        const eventType = action === 'event' ? 'event' : action;
        const problem = eventProblem(this.#limits, op['name'], eventType, op['attributes']);
        if (problem) return { reason: 'invalid', field: problemField(problem), message: problem };
        if (this.#ws.isSuppressed(ident)) {
          this.#ws.drops.push({ requestSeq: rec.seq, reason: `${where}: identifier suppressed` });
          return undefined;
        }
        this.#ws.storeEvent(rec, { ...op, type: eventType, data: op['attributes'] }, 'v2', {
          identifier: ident,
        });
        return undefined;
      }
      case 'add_device': {
        const device = op['device'];
        if (!isRecord(device)) return { reason: 'required', field: 'device', message: 'device is required' };
        if (typeof device['token'] !== 'string' || device['token'] === '') {
          return { reason: 'required', field: 'device.token', message: 'device token is required' };
        }
        if (typeof device['platform'] !== 'string' || device['platform'] === '') {
          return { reason: 'required', field: 'device.platform', message: 'device platform is required' };
        }
        this.#checkTimestamp(rec, `${where}.device.last_used`, device['last_used']);
        if (this.#ws.isSuppressed(ident)) {
          this.#ws.drops.push({ requestSeq: rec.seq, reason: `${where}: identifier suppressed` });
          return undefined;
        }
        this.#ws.putDevice(ident, device['token'], device);
        return undefined;
      }
      case 'delete_device': {
        const device = op['device'];
        if (!isRecord(device) || typeof device['token'] !== 'string') {
          return { reason: 'required', field: 'device.token', message: 'device token is required' };
        }
        this.#ws.devices.delete(device['token']);
        return undefined;
      }
      case 'delete':
        this.#ws.deletePerson(rec, ident, `${where}: delete`);
        return undefined;
      case 'suppress':
        this.#ws.suppress(ident);
        return undefined;
      case 'unsuppress':
        this.#ws.unsuppress(ident);
        return undefined;
      case 'add_relationships':
      case 'delete_relationships': {
        this.#ws.otherOps.push(op);
        if (this.#ws.isSuppressed(ident)) {
          this.#ws.drops.push({ requestSeq: rec.seq, reason: `${where}: identifier suppressed` });
          return undefined;
        }
        const relations = Array.isArray(op['cio_relationships']) ? op['cio_relationships'] : [];
        for (const relation of relations) {
          const objectIds = isRecord(relation) ? relation['identifiers'] : undefined;
          if (!isRecord(objectIds)) continue;
          const object = this.#ws.findObject(objectIds, action === 'add_relationships');
          if (object === undefined) continue;
          if (action === 'add_relationships') relate(object, ident);
          else unrelate(object, ident);
        }
        return undefined;
      }
      default:
        return {
          reason: 'invalid',
          field: 'action',
          message: `unknown person action ${JSON.stringify(action)}`,
        };
    }
  }

  #segmentMembership(rec: RecordedRequest, rawSegmentId: string, add: boolean): FakeResponse {
    if (!/^\d+$/.test(rawSegmentId)) return v1Error(400, 'segment id must be an integer');
    const segmentId = Number(rawSegmentId);
    const idType = rec.query['id_type'] ?? 'id';
    if (idType !== 'id' && idType !== 'email' && idType !== 'cio_id') {
      return v1Error(400, `id_type must be one of id, email, cio_id`);
    }
    const ids = isRecord(rec.body) ? rec.body['ids'] : undefined;
    if (!Array.isArray(ids)) return v1Error(400, 'ids must be an array');
    if (ids.length === 0) return v1Error(400, 'ids must contain at least 1 item');
    if (ids.length > this.#limits.segmentIds)
      return v1Error(400, `ids must contain at most ${this.#limits.segmentIds} items`);
    if (ids.some((v) => typeof v !== 'string')) return v1Error(400, 'ids must be strings');
    const segment = this.#ws.segments.get(segmentId);
    if (!segment) return v1Error(404, `segment ${segmentId} not found`);
    if (segment.type !== 'manual') return v1Error(400, `segment ${segmentId} is not a manual segment`);

    const members = this.#ws.members.get(segmentId) ?? new Map<string, FakeSegmentMember>();
    this.#ws.members.set(segmentId, members);
    // One pass over people per request (not per id): cohort tests send thousands of ids.
    const index = new Map<string, FakePerson>();
    if (idType !== 'cio_id') {
      for (const p of this.#ws.people.values()) {
        const key = idType === 'email' ? p.email?.toLowerCase() : p.id;
        if (key !== undefined && !index.has(key)) index.set(key, p);
      }
    }
    for (const value of ids as string[]) {
      const given: FakeSegmentMember = { idType, value };
      if (idType === 'email' && !value.includes('@')) {
        this.#ws.ignoredSegmentIds.push({ ...given, segmentId, requestSeq: rec.seq });
        continue;
      }
      const person =
        idType === 'cio_id'
          ? this.#ws.people.get(value.replace(/^cio_/, ''))
          : index.get(idType === 'email' ? value.toLowerCase() : value);
      if (add) {
        // Customer.io ignores people it does not know in a manual-segment add (its manual-segment
        // docs: people must be identified first; Amplitude's cohort sync docs: unknown users are ignored).
        if (!person) {
          this.#ws.unidentifiedSegmentIds.push({ ...given, segmentId, requestSeq: rec.seq });
          continue;
        }
        if (!members.has(person.cio_id)) members.set(person.cio_id, given);
      } else if (person) {
        members.delete(person.cio_id);
      }
    }
    segment.updated_at = nowSeconds();
    return ok();
  }

  // ---- App API -----------------------------------------------------------------------------------------

  /** Object `identify`, `identify_anonymous`, `delete`, `add_relationships`, `delete_relationships`. */
  #applyObjectOp(rec: RecordedRequest, op: Record<string, unknown>, action: string): ItemError | undefined {
    const identifiers = op['identifiers'] as Record<string, unknown>;
    if (
      !['identify', 'identify_anonymous', 'delete', 'add_relationships', 'delete_relationships'].includes(
        action,
      )
    ) {
      return {
        reason: 'invalid',
        field: 'action',
        message: `unknown object action ${JSON.stringify(action)}`,
      };
    }
    const creates =
      action === 'identify' || action === 'identify_anonymous' || action === 'add_relationships';
    const object = this.#ws.findObject(identifiers, creates);
    if (object === undefined) {
      if (typeof identifiers['object_id'] !== 'string')
        return { reason: 'required', field: 'identifiers.object_id', message: 'object_id is required' };
      this.#ws.drops.push({ requestSeq: rec.seq, reason: `object ${action}: object not found` });
      return undefined;
    }
    if (action === 'delete') {
      this.#ws.objects.delete(`${object.object_type_id}:${object.object_id}`);
      return undefined;
    }
    if (isRecord(op['attributes']) && action !== 'delete_relationships') {
      for (const [name, value] of Object.entries(op['attributes'])) {
        if (value === null) delete object.attributes[name];
        else object.attributes[name] = value;
      }
    }
    const relations = Array.isArray(op['cio_relationships']) ? op['cio_relationships'] : [];
    for (const relation of relations) {
      const who = isRecord(relation) ? relation['identifiers'] : undefined;
      if (isRecord(who) && typeof who['anonymous_id'] === 'string') {
        const anonymous = { type: 'anonymous_id' as const, value: who['anonymous_id'] };
        if (action === 'delete_relationships') unrelate(object, anonymous);
        else relate(object, anonymous);
        continue;
      }
      const ident = singleIdentifier(who, true);
      if (typeof ident === 'string') continue;
      if (action === 'delete_relationships') unrelate(object, ident);
      else if (this.#ws.isSuppressed(ident))
        this.#ws.drops.push({ requestSeq: rec.seq, reason: 'relationship: identifier suppressed' });
      else relate(object, ident);
    }
    return undefined;
  }

  #checkTimestamp(rec: RecordedRequest, field: string, value: unknown): void {
    if (value === undefined) return;
    const reason = timestampProblem(value);
    if (reason)
      this.#ws.timestampViolations.push({ requestSeq: rec.seq, path: rec.path, field, value, reason });
  }
}

/** How the v1 API reads a path identifier: `cio_<id>`, something with `@` (email), else an id. */
function inferIdentifier(value: string): FakeIdentifier {
  if (value.startsWith('cio_')) return { type: 'cio_id', value: value.slice(4) };
  if (value.includes('@')) return { type: 'email', value };
  return { type: 'id', value };
}

/** Exactly one identifier (`id`, `email`, `cio_id`, optionally `phone`), or the reason why not. */
function singleIdentifier(value: unknown, allowPhone = false): FakeIdentifier | string {
  if (!isRecord(value)) return 'identifiers must be an object';
  const keys = Object.keys(value).filter((k) => value[k] !== undefined && value[k] !== null);
  const known = keys.filter(
    (k) => k === 'id' || k === 'email' || k === 'cio_id' || (allowPhone && k === 'phone'),
  );
  if (known.length !== keys.length)
    return `unknown identifier ${JSON.stringify(keys.find((k) => !known.includes(k)))}`;
  if (known.length === 0) return 'exactly one identifier is required, got none';
  if (known.length > 1) return `exactly one identifier is allowed, got ${known.join(', ')}`;
  const type = known[0] as FakeIdType | 'phone';
  const raw = value[type];
  if (typeof raw !== 'string' && typeof raw !== 'number') return `identifier ${type} must be a string`;
  return { type, value: String(raw) };
}

function problemField(problem: string): string {
  if (problem.startsWith('event data')) return 'attributes';
  if (problem.startsWith('type')) return 'type';
  return 'name';
}

function timestampProblem(value: unknown): TimestampViolation['reason'] | undefined {
  if (typeof value === 'string') return 'string';
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'not_a_number';
  if (!Number.isInteger(value)) return 'not_integer';
  if (value < 0) return 'negative';
  if (value >= MAX_UNIX_SECONDS) return 'milliseconds';
  return undefined;
}

/**
 * The workspace state the fake Customer.io keeps and the person semantics the Track API documents
 * (identify, delete, suppress, merge, events with dedup, devices, objects, manual-segment members).
 * The APIs (track.ts, app.ts) validate requests and call these; the server exposes the collections.
 */
import {
  isRecord,
  nowSeconds,
  type FakeIdentifier,
  type FakeIdType,
  type RecordedRequest,
} from './shared.ts';

export interface FakePerson {
  cio_id: string;
  id?: string;
  email?: string;
  phone?: string;
  attributes: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export interface FakeEvent {
  type: 'event' | 'page' | 'screen';
  name: string;
  id?: string;
  timestamp?: unknown;
  data: Record<string, unknown>;
  /** The person the event was sent for; absent for anonymous events. */
  identifier?: FakeIdentifier;
  anonymousId?: string;
  via: 'v1' | 'v2';
  requestSeq: number;
}

export interface FakeDevice {
  token: string;
  platform: string;
  last_used?: unknown;
  attributes: Record<string, unknown>;
  identifier: FakeIdentifier;
}

export interface FakeObject {
  object_type_id: string;
  object_id: string;
  attributes: Record<string, unknown>;
  /** People related to the object, by the identifier the relationship named (anonymous ones as `anonymous_id`). */
  relationships: Array<{ type: FakeIdType | 'phone' | 'anonymous_id'; value: string }>;
}

export interface FakeSegment {
  id: number;
  deduplicate_id: string;
  name: string;
  description: string;
  state: 'finished';
  progress: null;
  type: 'manual' | 'dynamic';
  tags: string[];
  created_at: number;
  updated_at: number;
}

export interface FakeSegmentMember {
  idType: FakeIdType;
  value: string;
}

export interface TimestampViolation {
  requestSeq: number;
  path: string;
  /** Dotted location, e.g. `batch[2].timestamp`, `created_at`, `device.last_used`. */
  field: string;
  value: unknown;
  reason: 'milliseconds' | 'string' | 'not_integer' | 'negative' | 'not_a_number';
}

export interface FakeDrop {
  requestSeq: number;
  reason: string;
}

export class FakeWorkspace {
  readonly people = new Map<string, FakePerson>();
  readonly events: FakeEvent[] = [];
  /** Events answered 200 but not stored because their `id` was seen before. */
  readonly duplicateEvents: FakeEvent[] = [];
  readonly devices = new Map<string, FakeDevice>();
  readonly segments = new Map<number, FakeSegment>();
  /** Ids added to a segment that matched nobody identified at the time. */
  readonly unidentifiedSegmentIds: Array<FakeSegmentMember & { segmentId: number; requestSeq: number }> = [];
  /** Ids silently skipped by add/remove (value not of the given id_type). */
  readonly ignoredSegmentIds: Array<FakeSegmentMember & { segmentId: number; requestSeq: number }> = [];
  /** Requests accepted with 200 that Customer.io would drop (unknown cio_id, suppressed, `_update` miss). */
  readonly drops: FakeDrop[] = [];
  readonly suppressed = new Set<string>();
  /** Objects by `<object_type_id>:<object_id>`. */
  readonly objects = new Map<string, FakeObject>();
  /** v2 object/delivery (and person relationship) operations, stored as sent. */
  readonly otherOps: unknown[] = [];
  readonly timestampViolations: TimestampViolation[] = [];
  /** Members per segment, keyed by the person's cio_id: membership is per person, whatever the id type. */
  readonly members = new Map<number, Map<string, FakeSegmentMember>>();
  readonly #eventIds = new Set<string>();
  /** Suppress keys blocked by one suppress (a person's id and email): an unsuppress of one frees them all. */
  readonly #suppressedTogether = new Map<string, string[]>();
  #nextSegmentId = 1;
  #nextCioId = 1;

  /** Back to an empty workspace. */
  reset(): void {
    this.people.clear();
    this.events.length = 0;
    this.duplicateEvents.length = 0;
    this.devices.clear();
    this.segments.clear();
    this.unidentifiedSegmentIds.length = 0;
    this.ignoredSegmentIds.length = 0;
    this.drops.length = 0;
    this.suppressed.clear();
    this.#suppressedTogether.clear();
    this.objects.clear();
    this.otherOps.length = 0;
    this.timestampViolations.length = 0;
    this.members.clear();
    this.#eventIds.clear();
    this.#nextSegmentId = 1;
    this.#nextCioId = 1;
  }

  findPerson(type: FakeIdType | 'phone', value: string): FakePerson | undefined {
    if (type === 'cio_id') return this.people.get(value);
    for (const p of this.people.values()) {
      if (type === 'id' && p.id === value) return p;
      if (type === 'email' && p.email !== undefined && p.email.toLowerCase() === value.toLowerCase())
        return p;
      if (type === 'phone' && p.phone === value) return p;
    }
    return undefined;
  }

  /** Creates a person directly (test setup), as if identified earlier. */
  seedPerson(input: { id?: string; email?: string; attributes?: Record<string, unknown> }): FakePerson {
    const person = this.newPerson();
    if (input.id !== undefined) person.id = input.id;
    if (input.email !== undefined) person.email = input.email;
    Object.assign(person.attributes, input.attributes);
    return person;
  }

  /** Creates a segment directly; `type: 'dynamic'` gives a data-driven one the API must refuse to edit. */
  seedSegment(input: { name: string; description?: string; type?: 'manual' | 'dynamic' }): FakeSegment {
    return this.newSegment(input.name, input.description ?? '', input.type ?? 'manual');
  }

  segmentMembers(segmentId: number): FakeSegmentMember[] {
    return [...(this.members.get(segmentId)?.values() ?? [])];
  }

  newPerson(): FakePerson {
    const now = nowSeconds();
    const person: FakePerson = {
      cio_id: (this.#nextCioId++).toString(16).padStart(8, '0'),
      attributes: {},
      createdAt: now,
      updatedAt: now,
    };
    this.people.set(person.cio_id, person);
    return person;
  }

  newSegment(name: string, description: string, type: 'manual' | 'dynamic'): FakeSegment {
    const now = nowSeconds();
    const id = this.#nextSegmentId++;
    const segment: FakeSegment = {
      id,
      deduplicate_id: `${id}:${now}`,
      name,
      description,
      state: 'finished',
      progress: null,
      type,
      tags: [],
      created_at: now,
      updated_at: now,
    };
    this.segments.set(id, segment);
    return segment;
  }

  lookup(ident: FakeIdentifier): FakePerson | undefined {
    return this.findPerson(ident.type, ident.value);
  }

  isSuppressed(ident: FakeIdentifier): boolean {
    return this.suppressed.has(suppressKey(ident));
  }

  /** Identify semantics of the Track API: update the match, else create (unless `_update`). */
  /**
   * `timestamp` (Unix seconds, v2 identify): Customer.io drops an attribute update older than the
   * profile's last edit; without one the update is timed at receipt.
   */
  identify(
    rec: RecordedRequest,
    ident: FakeIdentifier,
    attributes: Record<string, unknown>,
    updateOnly: boolean,
    timestamp?: number,
  ): void {
    if (this.isSuppressed(ident)) {
      this.drops.push({ requestSeq: rec.seq, reason: 'identify: identifier suppressed' });
      return;
    }
    const bodyId = typeof attributes['id'] === 'string' ? attributes['id'] : undefined;
    const bodyEmail = typeof attributes['email'] === 'string' ? attributes['email'] : undefined;
    let person = this.lookup(ident);
    if (!person && ident.type === 'cio_id') {
      this.drops.push({ requestSeq: rec.seq, reason: 'identify: unknown cio_id' });
      return;
    }
    person ??=
      (bodyId !== undefined ? this.findPerson('id', bodyId) : undefined) ??
      (bodyEmail !== undefined ? this.findPerson('email', bodyEmail) : undefined);
    if (!person) {
      if (updateOnly) {
        this.drops.push({ requestSeq: rec.seq, reason: 'identify: _update and no matching person' });
        return;
      }
      person = this.newPerson();
    } else if (timestamp !== undefined && person.updatedAt > timestamp) {
      this.drops.push({ requestSeq: rec.seq, reason: "identify: older than the profile's last update" });
      return;
    }
    if (ident.type === 'id') person.id = ident.value;
    if (ident.type === 'email') person.email = ident.value;
    if (ident.type === 'phone') person.phone = ident.value;
    if (bodyId !== undefined) person.id = bodyId;
    if (bodyEmail !== undefined) person.email = bodyEmail;
    for (const [name, value] of Object.entries(stripReserved(attributes))) {
      if (value === null) delete person.attributes[name];
      else person.attributes[name] = value;
    }
    person.updatedAt = timestamp ?? nowSeconds();
  }

  /** Removes a person and what hangs off them: devices, segment memberships, object relationships. */
  forget(person: FakePerson): void {
    this.people.delete(person.cio_id);
    const idents: FakeIdentifier[] = [{ type: 'cio_id', value: person.cio_id }];
    if (person.id !== undefined) idents.push({ type: 'id', value: person.id });
    if (person.email !== undefined) idents.push({ type: 'email', value: person.email });
    const keys = new Set(idents.map(suppressKey));
    for (const [token, device] of this.devices)
      if (keys.has(suppressKey(device.identifier))) this.devices.delete(token);
    for (const members of this.members.values()) members.delete(person.cio_id);
    for (const object of this.objects.values()) for (const ident of idents) unrelate(object, ident);
  }

  deletePerson(rec: RecordedRequest, ident: FakeIdentifier, what: string): void {
    const person = this.lookup(ident);
    if (person) this.forget(person);
    else this.drops.push({ requestSeq: rec.seq, reason: `${what}: person not found` });
  }

  /** Deletes the person and blocks the identifier, and the person's other one (email+id workspaces). */
  suppress(ident: FakeIdentifier): void {
    const person = this.lookup(ident);
    const keys = [suppressKey(ident)];
    if (person?.id !== undefined) keys.push(suppressKey({ type: 'id', value: person.id }));
    if (person?.email !== undefined) keys.push(suppressKey({ type: 'email', value: person.email }));
    const together = [...new Set(keys)];
    for (const key of together) {
      this.suppressed.add(key);
      this.#suppressedTogether.set(key, together);
    }
    if (person) this.forget(person);
  }

  /** Frees the identifier(s) a suppress blocked; the profile is not restored. */
  unsuppress(ident: FakeIdentifier): void {
    const key = suppressKey(ident);
    for (const k of this.#suppressedTogether.get(key) ?? [key]) {
      this.suppressed.delete(k);
      this.#suppressedTogether.delete(k);
    }
  }

  /** The object named by `{object_type_id, object_id}`; created (empty) when `create`. */
  findObject(identifiers: Record<string, unknown>, create: boolean): FakeObject | undefined {
    const typeId = identifiers['object_type_id'];
    const objectId = identifiers['object_id'];
    if ((typeof typeId !== 'string' && typeof typeId !== 'number') || typeof objectId !== 'string')
      return undefined;
    const key = `${String(typeId)}:${objectId}`;
    let object = this.objects.get(key);
    if (!object && create) {
      object = { object_type_id: String(typeId), object_id: objectId, attributes: {}, relationships: [] };
      this.objects.set(key, object);
    }
    return object;
  }

  merge(rec: RecordedRequest, primary: FakeIdentifier, secondary: FakeIdentifier): void {
    const p = this.lookup(primary);
    const s = this.lookup(secondary);
    if (!p || !s || p === s) {
      this.drops.push({ requestSeq: rec.seq, reason: 'merge: primary or secondary not found' });
      return;
    }
    for (const [k, v] of Object.entries(s.attributes)) if (!(k in p.attributes)) p.attributes[k] = v;
    // Manual-segment memberships move to the primary (Customer.io's merge docs).
    for (const members of this.members.values()) {
      const member = members.get(s.cio_id);
      if (!member) continue;
      members.delete(s.cio_id);
      if (!members.has(p.cio_id)) {
        members.set(p.cio_id, p.id !== undefined ? { idType: 'id', value: p.id } : member);
      }
    }
    this.people.delete(s.cio_id);
  }

  storeEvent(
    rec: RecordedRequest,
    body: Record<string, unknown>,
    via: 'v1' | 'v2',
    who: { identifier?: FakeIdentifier; anonymousId?: string },
  ): void {
    const type = body['type'] === 'page' || body['type'] === 'screen' ? body['type'] : 'event';
    const event: FakeEvent = {
      type,
      name: String(body['name']).trim(),
      data: isRecord(body['data']) ? body['data'] : {},
      via,
      requestSeq: rec.seq,
      ...who,
    };
    if (typeof body['id'] === 'string' && body['id'] !== '') event.id = body['id'];
    if (body['timestamp'] !== undefined) event.timestamp = body['timestamp'];
    if (event.id !== undefined) {
      if (this.#eventIds.has(event.id)) {
        this.duplicateEvents.push(event);
        return;
      }
      this.#eventIds.add(event.id);
    }
    this.events.push(event);
  }

  putDevice(ident: FakeIdentifier, token: string, device: Record<string, unknown>): void {
    const stored: FakeDevice = {
      token,
      platform: String(device['platform']),
      attributes: isRecord(device['attributes']) ? device['attributes'] : {},
      identifier: ident,
    };
    if (device['last_used'] !== undefined) stored.last_used = device['last_used'];
    this.devices.set(token, stored);
  }
}

export function suppressKey(ident: { type: string; value: string }): string {
  return `${ident.type}:${ident.type === 'email' ? ident.value.toLowerCase() : ident.value}`;
}

export function relate(object: FakeObject, who: FakeObject['relationships'][number]): void {
  if (!object.relationships.some((r) => suppressKey(r) === suppressKey(who))) object.relationships.push(who);
}

export function unrelate(object: FakeObject, who: { type: string; value: string }): void {
  object.relationships = object.relationships.filter((r) => suppressKey(r) !== suppressKey(who));
}

/** Keys that steer the identify call rather than being stored as attributes. */
export function stripReserved(attributes: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attributes)) {
    if (k === '_update' || k === '_timestamp' || k === 'cio_relationships') continue;
    out[k] = v;
  }
  return out;
}

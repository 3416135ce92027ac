/**
 * The App API (`/v1/…`, Bearer auth): manual segments — create, list, get, delete, customer count and
 * membership paging — in the App API's `{errors:[{detail,status}]}` error shape.
 */
import { DEFAULT_SEGMENT_MEMBERSHIP_PAGE } from '../../../src/customerio/limits.ts';
import type { FakeLimits } from './limits.ts';
import { appError, isRecord, splitPath, type FakeResponse, type RecordedRequest } from './shared.ts';
import type { FakeSegment, FakeWorkspace } from './workspace.ts';

export class AppApi {
  readonly #ws: FakeWorkspace;
  readonly #limits: FakeLimits;

  constructor(ws: FakeWorkspace, limits: FakeLimits) {
    this.#ws = ws;
    this.#limits = limits;
  }

  /** Answers an authorized, unthrottled App request. */
  handle(rec: RecordedRequest): FakeResponse {
    const seg = splitPath(rec.rawPath);
    if (seg === undefined) return appError(400, 'invalid path encoding');
    const [, resource, id, sub, ...rest] = seg;
    const m = rec.method;
    if (resource === 'segments' && rest.length === 0) {
      if (id === undefined) {
        if (m === 'GET') return { status: 200, body: { segments: [...this.#ws.segments.values()] } };
        if (m === 'POST') return this.#createSegment(rec);
      } else {
        if (!/^\d+$/.test(id)) return appError(404, 'segment not found');
        const segment = this.#ws.segments.get(Number(id));
        if (!segment) return appError(404, 'segment not found');
        if (sub === undefined && m === 'GET') return { status: 200, body: { segment } };
        if (sub === undefined && m === 'DELETE') {
          if (segment.type !== 'manual') return appError(400, 'only manual segments can be deleted');
          this.#ws.segments.delete(segment.id);
          this.#ws.members.delete(segment.id);
          return { status: 204 };
        }
        if (sub === 'customer_count' && m === 'GET') {
          return {
            status: 200,
            body: { segment_id: segment.id, count: this.#ws.members.get(segment.id)?.size ?? 0 },
          };
        }
        if (sub === 'membership' && m === 'GET') return this.#membership(rec, segment);
      }
    }
    return appError(404, `no route for ${m} ${rec.path}`);
  }

  #createSegment(rec: RecordedRequest): FakeResponse {
    if (rec.bodyText.trim() !== '' && rec.body === undefined)
      return appError(400, 'request body is not valid JSON');
    const input = isRecord(rec.body) ? rec.body['segment'] : undefined;
    if (!isRecord(input)) return appError(400, 'segment is required');
    const name = input['name'];
    if (typeof name !== 'string' || name.trim() === '') return appError(400, 'segment name is required');
    const description = typeof input['description'] === 'string' ? input['description'] : '';
    return { status: 200, body: { segment: this.#ws.newSegment(name, description, 'manual') } };
  }

  #membership(rec: RecordedRequest, segment: FakeSegment): FakeResponse {
    const limit =
      rec.query['limit'] === undefined ? DEFAULT_SEGMENT_MEMBERSHIP_PAGE : Number(rec.query['limit']);
    if (!Number.isInteger(limit) || limit < 1 || limit > this.#limits.membershipPage) {
      return appError(400, `limit must be between 1 and ${this.#limits.membershipPage}`);
    }
    const start =
      rec.query['start'] === undefined || rec.query['start'] === '' ? 0 : Number(rec.query['start']);
    if (!Number.isInteger(start) || start < 0) return appError(400, 'invalid start cursor');
    const members = [...(this.#ws.members.get(segment.id)?.values() ?? [])];
    const page = members.slice(start, start + limit);
    const identifiers = page.map((m) => {
      const person = this.#ws.lookup({ type: m.idType, value: m.value });
      return {
        id: person?.id ?? (m.idType === 'id' ? m.value : ''),
        email: person?.email ?? (m.idType === 'email' ? m.value : ''),
        cio_id: person?.cio_id ?? (m.idType === 'cio_id' ? m.value : ''),
      };
    });
    const body: Record<string, unknown> = { ids: identifiers.map((i) => i.id), identifiers };
    if (start + limit < members.length) body['next'] = String(start + limit);
    return { status: 200, body };
  }
}

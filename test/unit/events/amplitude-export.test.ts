import { describe, expect, it } from 'vitest';

import { eventId } from '../../../src/mapping/map-record.ts';
import {
  exportRowProblem,
  fromAmplitudeExport,
  parseExportTime,
} from '../../../src/events/amplitude-export.ts';
import { fromAmplitudeEvent } from '../../../src/events/normalize.ts';

const RECEIVED = Date.UTC(2024, 0, 25, 19, 0, 0);

/** A real export line's columns (source-platforms.md A.4), with the sample's values. */
function exportRow(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    $insert_id: '5ed8fe25-1721-5d77-bb93-a0aa882ba06d',
    $insert_key: null,
    $schema: null,
    adid: null,
    amplitude_attribution_ids: null,
    amplitude_event_type: null,
    amplitude_id: 1200000023757,
    app: 187520,
    city: 'San Francisco',
    client_event_time: '2024-01-25 17:04:08.291000',
    client_upload_time: '2024-01-25 17:04:10.491000',
    country: 'United States',
    data: { path: '/2/httpapi', user_properties_updated: true, group_first_event: {}, group_ids: {} },
    data_type: 'event',
    device_carrier: null,
    device_id: 'device-0003',
    device_family: 'Mac',
    device_type: 'Mac',
    dma: null,
    event_id: 107,
    event_properties: { order_id: 'ord-000007', revenue: 49.9 },
    event_time: '2024-01-25 17:04:08.291000',
    event_type: 'Order Completed',
    global_user_properties: null,
    group_properties: {},
    groups: {},
    idfa: null,
    ip_address: '203.0.113.9',
    language: 'English',
    library: 'amplitude-ts/2.11.1',
    os_name: 'Chrome',
    os_version: '120',
    paying: null,
    plan: {},
    platform: 'Web',
    processed_time: '2024-01-25 17:04:14.444417',
    region: 'California',
    server_received_time: '2024-01-25 17:04:11.528000',
    server_upload_time: '2024-01-25 17:04:11.532000',
    session_id: 1706202188291,
    source_id: null,
    user_id: 'user-0003',
    user_properties: { email: 'user-0003@example.test', plan: 'pro' },
    uuid: '59215be1-0000-4000-8000-000000000001',
    version_name: '3.1.0',
    ...overrides,
  };
}

describe('parseExportTime', () => {
  it('reads every form the platforms write', () => {
    const ms = Date.UTC(2025, 6, 1, 16, 34, 54, 837);
    expect(parseExportTime('2025-07-01 16:34:54.837000')).toBe(ms);
    expect(parseExportTime('2025-07-01 16:34:54.837')).toBe(ms);
    expect(parseExportTime('2025-07-01T16:34:54.837')).toBe(ms);
    expect(parseExportTime('2025-07-01T16:34:54.837Z')).toBe(ms);
    expect(parseExportTime('2025-07-01T18:34:54.837+02:00')).toBe(ms);
    expect(parseExportTime('2022-11-14 00:57:35.949636')).toBe(Date.UTC(2022, 10, 14, 0, 57, 35, 949));
    expect(parseExportTime('2025-07-01 16:34:54')).toBe(Date.UTC(2025, 6, 1, 16, 34, 54));
    expect(parseExportTime(ms)).toBe(ms);
    expect(parseExportTime('2024-02-29 00:00:00.000000')).toBe(Date.UTC(2024, 1, 29));
    for (const bad of [
      '',
      'yesterday',
      '2025-07-01',
      '2025-13-01 00:00:00',
      '2025-02-29 00:00:00.000000',
      '2025-07-01 24:00:00.000000',
      '2025-07-01 16:34:54.83x000',
      '2025-07-01 16:34:54.837 00',
      -1,
      1.5,
      null,
    ]) {
      expect(parseExportTime(bad), String(bad)).toBeUndefined();
    }
  });
});

describe('fromAmplitudeExport', () => {
  it('maps a real export row to the record the HTTP V2 route makes', () => {
    const record = fromAmplitudeExport(exportRow(), { receivedAt: RECEIVED });
    expect(record).toStrictEqual({
      kind: 'track',
      origin: 'amplitude',
      event_type: 'Order Completed',
      insert_id: '5ed8fe25-1721-5d77-bb93-a0aa882ba06d',
      user_id: 'user-0003',
      anonymous_id: 'device-0003',
      time: Date.UTC(2024, 0, 25, 17, 4, 8, 291),
      client_time: Date.UTC(2024, 0, 25, 17, 4, 8, 291),
      event_properties: { order_id: 'ord-000007', revenue: 49.9 },
      user_properties: { email: 'user-0003@example.test', plan: 'pro' },
      context: {
        amplitude_id: 1200000023757,
        app: 187520,
        city: 'San Francisco',
        country: 'United States',
        device_family: 'Mac',
        device_type: 'Mac',
        event_id: 107,
        ip: '203.0.113.9',
        language: 'English',
        library: 'amplitude-ts/2.11.1',
        os_name: 'Chrome',
        os_version: '120',
        platform: 'Web',
        region: 'California',
        session_id: 1706202188291,
        uuid: '59215be1-0000-4000-8000-000000000001',
        app_version: '3.1.0',
      },
    });
  });

  it('gives the event the Customer.io id the HTTP V2 route gives it', () => {
    const viaExport = fromAmplitudeExport(exportRow(), { receivedAt: RECEIVED });
    const viaHttp = fromAmplitudeEvent(
      {
        event_type: 'Order Completed',
        user_id: 'user-0003',
        device_id: 'device-0003',
        time: Date.UTC(2024, 0, 25, 17, 4, 8, 291),
        insert_id: '5ed8fe25-1721-5d77-bb93-a0aa882ba06d',
        event_properties: { order_id: 'ord-000007', revenue: 49.9 },
      },
      RECEIVED,
    );
    expect(eventId(viaExport, 'amp', 11)).toBe(eventId(viaHttp, 'amp', 3));
  });

  it('takes the corrected event_time as the time and the client time for the id', () => {
    const row = exportRow({
      client_event_time: '2024-01-25 16:00:00.000000',
      event_time: '2024-01-25 17:04:09.000000',
    });
    const record = fromAmplitudeExport(row, { receivedAt: RECEIVED });
    expect(record.time).toBe(Date.UTC(2024, 0, 25, 17, 4, 9));
    expect(record.client_time).toBe(Date.UTC(2024, 0, 25, 16, 0, 0));
  });

  it('keeps groups and group properties that say something', () => {
    const row = exportRow({
      groups: { company: ['acme'] },
      group_properties: { company: { acme: { tier: 1 } } },
    });
    const record = fromAmplitudeExport(row, { receivedAt: RECEIVED });
    expect(record.groups).toEqual({ company: ['acme'] });
    expect(record.group_properties).toEqual({ company: { acme: { tier: 1 } } });
  });

  it('reads a $identify row as an identify with the state after it', () => {
    const row = exportRow({
      event_type: '$identify',
      event_properties: {},
      user_properties: { plan: 'team' },
    });
    const record = fromAmplitudeExport(row, { receivedAt: RECEIVED, historical: true });
    expect(record).toMatchObject({
      kind: 'identify',
      event_type: '$identify',
      user_properties: { plan: 'team' },
    });
    expect(record.historical).toBe(true);
  });

  it('reads a "Send Users" Identify API object, timed at receipt', () => {
    const record = fromAmplitudeExport(
      {
        user_id: 'user-9',
        user_properties: { $set: { plan: 'pro' } },
        platform: 'iOS',
        device_model: 'iPhone',
      },
      { receivedAt: RECEIVED },
    );
    expect(record).toStrictEqual({
      kind: 'identify',
      origin: 'amplitude',
      event_type: '$identify',
      user_id: 'user-9',
      time: RECEIVED,
      event_properties: {},
      user_properties: { $set: { plan: 'pro' } },
      context: { platform: 'iOS', device_model: 'iPhone' },
    });
  });

  it("falls back to Amplitude's uuid as the dedupe key when the client sent no insert id", () => {
    const record = fromAmplitudeExport(exportRow({ $insert_id: null }), { receivedAt: RECEIVED });
    expect(record.insert_id).toBe('amplitude-uuid:59215be1-0000-4000-8000-000000000001');
  });
});

describe('exportRowProblem', () => {
  it('names what a row lacks', () => {
    expect(exportRowProblem(exportRow())).toBeUndefined();
    expect(exportRowProblem(exportRow({ event_type: '' }))?.field).toBe('event_type');
    expect(exportRowProblem(exportRow({ user_id: null, device_id: null }))?.field).toBe('user_id');
    expect(exportRowProblem(exportRow({ event_properties: [1] }))?.field).toBe('event_properties');
    expect(exportRowProblem(exportRow({ event_time: 'soon' }))?.field).toBe('event_time');
    expect(exportRowProblem({ user_id: 'u-1' })).toBeUndefined();
  });
});

/** A request a dry-run destination recorded instead of sending (credentials redacted). */
export interface CapturedRequest {
  id: number;
  syncId: string;
  destinationId: string;
  method: string;
  url: string;
  body: unknown;
  createdAt: number;
}

export type NewCapturedRequest = Omit<CapturedRequest, 'id' | 'createdAt'>;

export interface CaptureStore {
  captureRequests(requests: NewCapturedRequest[]): Promise<void>;
  /** A sync's captured requests with `id > afterId`, oldest first. */
  listCapturedRequests(
    syncId: string,
    opts?: { limit?: number; afterId?: number },
  ): Promise<CapturedRequest[]>;
}

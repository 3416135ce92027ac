/** The fake Customer.io for tests and benchmarks: start one with `startFakeCustomerIo()`. */
export {
  FakeCustomerIo,
  startFakeCustomerIo,
  type FailSpec,
  type FakeCustomerIoOptions,
  type FakeScript,
  type FaultMatch,
} from './server.ts';
export type { FakeCredentials } from './auth.ts';
export { FAKE_DEFAULT_LIMITS, type FakeLimits, type FakeRateLimit } from './limits.ts';
export type { FakeApi, FakeIdentifier, FakeIdType, RecordedRequest } from './shared.ts';
export type {
  FakeDevice,
  FakeDrop,
  FakeEvent,
  FakeObject,
  FakePerson,
  FakeSegment,
  FakeSegmentMember,
  TimestampViolation,
} from './workspace.ts';

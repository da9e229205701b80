export {
  inspectKey,
  type KeyInspection,
  type KeyReference,
  type ReleaseKeyOptions,
  releaseKey,
} from './admin.js'
export {
  IdempotencyAbandonedError,
  IdempotencyConfigError,
  IdempotencyError,
  type IdempotencyErrorOptions,
  IdempotencyInProgressError,
  IdempotencyKeyInvalidError,
  IdempotencyKeyReusedError,
  IdempotencyResultError,
  IdempotencyStoreError,
} from './errors.js'
export {
  type HttpIdempotencyOptions,
  type HttpRequest,
  type HttpResponse,
  httpCaller,
  httpFingerprint,
  httpRequest,
} from './http.js'
export { canonicalJson, hashValue, type KeyNamespace, MAX_KEY_LENGTH, recordId } from './key.js'
export { type MakeIdempotentOptions, makeIdempotent } from './make-idempotent.js'
export { type IdempotentMiddlewareOptions, idempotent } from './middleware.js'
export type {
  IdempotencyEvent,
  IdempotencyLogger,
  IdempotencyOptions,
  IdempotencyOutcome,
} from './options.js'
export type { DynamoDBSendClient, MiddyMiddleware, MiddyRequest } from './peer-types.js'
export { idempotentSqsHandler, type SqsIdempotencyOptions } from './sources/sqs.js'
export {
  type DynamoDBAttributeNames,
  DynamoDBStore,
  type DynamoDBStoreOptions,
} from './stores/dynamodb-store.js'
export { MemoryStore, type MemoryStoreOptions } from './stores/memory-store.js'
export type {
  ClaimOutcome,
  ClaimRequest,
  IdempotencyStore,
  RecordStatus,
  StoredRecord,
} from './stores/store.js'

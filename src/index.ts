export {
  inspectKey,
  type KeyInspection,
  type KeyReference,
  type ReleaseKeyOptions,
  releaseKey,
} from './admin.js'
export { type CurrentClaim, currentClaim } from './current-claim.js'

export { type IdempotentMethodOptions, idempotentMethod } from './decorator.js'
export {
  IdempotencyAbandonedError,
  IdempotencyConfigError,
  IdempotencyError,
  type IdempotencyErrorOptions,
  IdempotencyFencedError,
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
export { canonicalJson, hashJson, hashValue, type KeyNamespace, MAX_KEY_LENGTH, recordId } from './key.js'
export { type MakeIdempotentOptions, makeIdempotent } from './make-idempotent.js'
export { type IdempotentMiddlewareOptions, idempotent } from './middleware.js'
export type {
  IdempotencyEvent,
  IdempotencyLogger,
  IdempotencyOptions,
  IdempotencyOutcome,
} from './options.js'
export type { DynamoDBSendClient, MiddyMiddleware, MiddyRequest } from './peer-types.js'
export type { RecordIdempotencyOptions } from './sources/batch.js'
export {
  type DynamoDBStreamChange,
  type DynamoDBStreamIdempotencyOptions,
  idempotentDynamoDBStreamHandler,
} from './sources/dynamodb-streams.js'
export {
  idempotentKafkaHandler,
  type KafkaBatchResponse,
  type KafkaEvent,
  type KafkaIdempotencyOptions,
  type KafkaItemIdentifier,
  type KafkaMessage,
  type KafkaRecord,
} from './sources/kafka.js'
export { idempotentKinesisHandler, type KinesisIdempotencyOptions } from './sources/kinesis.js'
export { idempotentSqsHandler, type SqsIdempotencyOptions } from './sources/sqs.js'
export {
  type DynamoDBAttributeNames,
  DynamoDBStore,
  type DynamoDBStoreOptions,
} from './stores/dynamodb-store.js'
export { MemoryStore, type MemoryStoreOptions } from './stores/memory-store.js'
export {
  type PowertoolsAttributeNames,
  PowertoolsDynamoDBStore,
  type PowertoolsDynamoDBStoreOptions,
} from './stores/powertools-compat.js'
export type {
  ClaimOutcome,
  ClaimRequest,
  IdempotencyStore,
  RecordStatus,
  StoredRecord,
} from './stores/store.js'

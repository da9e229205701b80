import type { Context, MSKEvent, MSKRecord, SelfManagedKafkaEvent, SelfManagedKafkaRecord } from 'aws-lambda'
import { IdempotencyKeyInvalidError } from '../errors.js'
import { type BatchEntry, createBatchRunner, describeInput, type RecordIdempotencyOptions } from './batch.js'
import { base64Bytes, decodeBytes, utf8Text } from './payload.js'

/** A Kafka event as Lambda delivers it from Amazon MSK or a self-managed cluster. */
export type KafkaEvent = MSKEvent | SelfManagedKafkaEvent

/** One record of a {@link KafkaEvent}. */
export type KafkaRecord = MSKRecord | SelfManagedKafkaRecord

/** A Kafka record's content, decoded: what the record handler gets first. */
export interface KafkaMessage<TValue = unknown> {
  /**
   * The value, base64-decoded, then JSON-parsed when it is JSON, else the UTF-8 string, else the
   * bytes. `null` for a record without a value (a tombstone).
   */
  value: TValue
  /** The key decoded the same way but never JSON-parsed: the UTF-8 string, else the bytes. */
  key: string | Uint8Array | undefined
  /**
   * The headers, each value decoded from its byte array as UTF-8 (else left as bytes). A name
   * that comes twice keeps its last value, as Kafka's `lastHeader()` does.
   */
  headers: Record<string, string | Uint8Array>
}

/**
 * What Lambda reads back for a failed Kafka record: the topic-partition, spelled as the key of the
 * event's `records` map (`<topic>-<partition>`), and the record's offset. Lambda resumes that
 * partition from the lowest offset reported for it.
 */
export interface KafkaItemIdentifier {
  /** The `records` map key of the record's topic-partition, e.g. `orders-0`. */
  partition: string
  /** The offset of the failed record. */
  offset: number
}

/** The partial batch response of a Kafka event source mapping. */
export interface KafkaBatchResponse {
  batchItemFailures: { itemIdentifier: KafkaItemIdentifier }[]
}

/** A record with the `records` map key it came under. */
interface PartitionRecord {
  partition: string
  record: KafkaRecord
}

/**
 * Options of {@link idempotentKafkaHandler}: the options of every per-record handler, with the
 * decoded {@link KafkaMessage} as the payload.
 *
 * - `key`: default `<topic>:<partition>:<offset>`, the same on every redelivery of the record.
 * - `fingerprint`: default the decoded `value` and `key`; never the headers (tracing headers
 *   change when a producer sends again), the timestamp or the offset.
 * - `concurrency`: topic-partitions processed at once (default 10); the records of one partition
 *   run in order.
 *
 * @example
 * idempotentKafkaHandler<OrderPaid>(createOrder, { store, key: (message) => message.value.eventId })
 */
export interface KafkaIdempotencyOptions<TValue = unknown>
  extends RecordIdempotencyOptions<KafkaMessage<TValue>, KafkaRecord> {}

/**
 * Makes an Amazon MSK or self-managed Apache Kafka consumer idempotent per record and reports
 * partial batch failures as `{ itemIdentifier: { partition, offset } }` (see
 * {@link KafkaItemIdentifier}). The event source mapping needs `ReportBatchItemFailures`.
 *
 * - `handler(message, record, context)`: `message` is the decoded {@link KafkaMessage}. A record
 *   whose value, key or headers cannot be decoded (not base64) fails like a record that throws.
 * - The records of one topic-partition run in order; at a partition's first failure that record
 *   is reported and nothing after it in the partition runs. Lambda retries the partition from
 *   there and the records before it replay. Partitions run concurrently, at most `concurrency`
 *   at once.
 * - Records of one batch with the same key run once: the others replay its outcome.
 *
 * @example
 * export const handler = idempotentKafkaHandler<OrderPaid>(async (message) => createOrder(message.value), {
 *   store,
 *   key: (message) => message.value.eventId,
 * })
 */
export const idempotentKafkaHandler = <TValue = unknown>(
  handler: (message: KafkaMessage<TValue>, record: KafkaRecord, context: Context) => Promise<unknown>,
  options: KafkaIdempotencyOptions<TValue>,
): ((event: KafkaEvent, context: Context) => Promise<KafkaBatchResponse>) => {
  const run = createBatchRunner<KafkaMessage<TValue>, KafkaRecord>(handler, options, {
    label: 'Kafka',
    // Topic names cannot hold ':' ([a-zA-Z0-9._-]), so the three parts cannot run into each other.
    defaultKey: (_message, record) => `${record.topic}:${record.partition}:${record.offset}`,
    defaultFingerprint: (message) => ({ key: message.key, value: message.value }),
    sequenceName: 'Kafka topic-partition',
    reportSkipped: false,
  })
  const log = options.logger === false ? undefined : (options.logger ?? console)

  const toEntry = ({ partition, record }: PartitionRecord): BatchEntry<KafkaMessage<TValue>, KafkaRecord> => {
    const entry = {
      record,
      sequence: partition,
      logFields: { topicPartition: partition, offset: record.offset },
    }
    try {
      return { ...entry, decoded: { payload: decodeMessage<TValue>(record) } }
    } catch (error) {
      log?.warn('lambda-idempotency: the Kafka record cannot be decoded; the record fails', {
        ...entry.logFields,
        outcome: 'invalid-record',
        error: error instanceof Error ? error.message : String(error),
      })
      return { ...entry, decoded: undefined }
    }
  }

  const idempotentKafka = async (event: KafkaEvent, context: Context): Promise<KafkaBatchResponse> => {
    const failed = await run(checkRecords(event).map(toEntry), context)
    return {
      batchItemFailures: failed.map((entry) => ({
        itemIdentifier: { partition: entry.logFields.topicPartition as string, offset: entry.record.offset },
      })),
    }
  }
  return idempotentKafka
}

const decodeMessage = <TValue>(record: KafkaRecord): KafkaMessage<TValue> => {
  const present = (value: unknown) => value !== undefined && value !== null
  const value = present(record.value) ? decodeBytes(base64Bytes(record.value, 'value')) : null
  let key: KafkaMessage['key']
  if (present(record.key)) {
    const bytes = base64Bytes(record.key, 'key')
    key = utf8Text(bytes) ?? bytes
  }
  const headers: KafkaMessage['headers'] = {}
  for (const header of record.headers ?? []) {
    for (const [name, raw] of Object.entries(header ?? {})) {
      if (!Array.isArray(raw) || !raw.every(Number.isInteger))
        throw new TypeError(`header ${name} is not a byte array`)
      // Java producers' bytes are signed (-128..127): the low 8 bits are the byte.
      const bytes = Uint8Array.from(raw, (byte) => byte & 0xff)
      headers[name] = utf8Text(bytes) ?? bytes
    }
  }
  return { value: value as TValue, key, headers }
}

const checkRecords = (event: KafkaEvent): PartitionRecord[] => {
  const records = (event as { records?: unknown } | null | undefined)?.records
  if (typeof records !== 'object' || records === null || Array.isArray(records)) {
    throw new IdempotencyKeyInvalidError(
      'IDEMPOTENCY_INPUT_INVALID',
      `idempotentKafkaHandler expects a Kafka event with a records map, got ${describeInput(event)}`,
    )
  }
  return Object.entries(records as Record<string, unknown>).flatMap(([partition, list]) => {
    if (!Array.isArray(list)) {
      throw new IdempotencyKeyInvalidError(
        'IDEMPOTENCY_INPUT_INVALID',
        `Kafka records of ${JSON.stringify(partition)} are not an array, got ${describeInput(list)}`,
      )
    }
    return list.map((record: unknown, index) => {
      const candidate = record as Partial<KafkaRecord> | null
      if (
        typeof candidate?.topic !== 'string' ||
        !Number.isSafeInteger(Number(candidate.partition)) ||
        !Number.isSafeInteger(candidate.offset)
      ) {
        throw new IdempotencyKeyInvalidError(
          'IDEMPOTENCY_INPUT_INVALID',
          `Kafka record ${index} of ${JSON.stringify(partition)} has no topic, partition or offset, got ${describeInput(record)}`,
        )
      }
      return { partition, record: record as KafkaRecord }
    })
  })
}

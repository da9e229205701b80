/*
 * Default keys for the at-least-once event sources of AWS Lambda. Each source redelivers with the
 * same id, so the id is the key; the fingerprint covers the payload only, never per-delivery
 * fields (receipt handles, receive counts, signatures, timestamps of the delivery).
 */

import type { SourceIdentity } from '../options.js'

type Fields = Record<string, unknown>

const isObject = (value: unknown): value is Fields => typeof value === 'object' && value !== null

/**
 * Recognises an EventBridge event, an SNS, SQS, Kinesis, DynamoDB Streams or Kafka event of one
 * record, or one such record on its own, and returns its id and payload. An event of several
 * records is recognised as a batch: it has no one key (`key` is `undefined`), and its fingerprint
 * lists the payloads of its records. `undefined` for anything else.
 *
 * | input | key | fingerprint |
 * | --- | --- | --- |
 * | EventBridge event | `id` | `source`, `detail-type`, `detail` |
 * | SQS record | `messageId` | `body`, `messageAttributes` |
 * | SNS record | `Sns.MessageId` | `Sns.Message`, `Sns.Subject`, `Sns.MessageAttributes` |
 * | DynamoDB Streams record | `eventID` | `dynamodb.Keys`, `dynamodb.NewImage`, `dynamodb.OldImage` |
 * | Kinesis record | `eventID` | `kinesis.partitionKey`, `kinesis.data` |
 * | Kafka record (MSK or self-managed) | `topic`, `partition`, `offset` | `key`, `value`, `headers` |
 */
export const sourceIdentity = (input: unknown): SourceIdentity | undefined => {
  if (!isObject(input)) return undefined
  if (
    typeof input.id === 'string' &&
    typeof input['detail-type'] === 'string' &&
    typeof input.source === 'string'
  ) {
    return {
      source: 'eventbridge',
      key: input.id,
      fingerprint: { source: input.source, detailType: input['detail-type'], detail: input.detail },
    }
  }
  const records = Array.isArray(input.Records) ? input.Records : kafkaRecords(input)
  if (records === undefined) return recordIdentity(input)
  const identities = records.map((record) => (isObject(record) ? recordIdentity(record) : undefined))
  const first = identities[0]
  if (first === undefined || identities.some((identity) => identity?.source !== first.source))
    return undefined
  if (identities.length === 1) return first
  return {
    source: first.source,
    key: undefined,
    fingerprint: identities.map((identity) => identity?.fingerprint),
    records: identities.length,
  }
}

// Kafka events (MSK and self-managed) group their records by topic-partition.
const kafkaRecords = (event: Fields): unknown[] | undefined => {
  if (event.eventSource !== 'aws:kafka' && event.eventSource !== 'SelfManagedKafka') return undefined
  if (!isObject(event.records)) return undefined
  return Object.values(event.records).flatMap((partition) => (Array.isArray(partition) ? partition : []))
}

const recordIdentity = (record: Fields): SourceIdentity | undefined => {
  const source = record.eventSource ?? record.EventSource
  if (source === 'aws:sqs' && typeof record.messageId === 'string') {
    return {
      source: 'sqs',
      key: record.messageId,
      fingerprint: { body: record.body, messageAttributes: record.messageAttributes },
    }
  }
  if (source === 'aws:sns' && isObject(record.Sns) && typeof record.Sns.MessageId === 'string') {
    const { MessageId, Message, Subject, MessageAttributes } = record.Sns
    return { source: 'sns', key: MessageId, fingerprint: { Message, Subject, MessageAttributes } }
  }
  if (source === 'aws:dynamodb' && typeof record.eventID === 'string' && isObject(record.dynamodb)) {
    const { Keys, NewImage, OldImage } = record.dynamodb
    return { source: 'dynamodb-streams', key: record.eventID, fingerprint: { Keys, NewImage, OldImage } }
  }
  if (source === 'aws:kinesis' && typeof record.eventID === 'string' && isObject(record.kinesis)) {
    const { partitionKey, data } = record.kinesis
    return { source: 'kinesis', key: record.eventID, fingerprint: { partitionKey, data } }
  }
  if (
    typeof record.topic === 'string' &&
    typeof record.partition === 'number' &&
    typeof record.offset === 'number' &&
    'value' in record
  ) {
    const { topic, partition, offset, key, value, headers } = record
    return {
      source: 'kafka',
      key: JSON.stringify([topic, partition, offset]),
      fingerprint: { key, value, headers },
    }
  }
  return undefined
}

/*
 * Default keys for the at-least-once event sources of AWS Lambda. Each source redelivers with the
 * same id, so the id is the key; the fingerprint covers the payload only, never per-delivery
 * fields (receipt handles, receive counts, signatures, timestamps of the delivery).
 */

import type { SourceIdentity } from '../options.js'

type Fields = Record<string, unknown>

const isObject = (value: unknown): value is Fields => typeof value === 'object' && value !== null

/**
 * Recognises an EventBridge event, an SNS event, or one SQS, SNS, DynamoDB Streams or Kinesis
 * record, and returns its id and payload. `undefined` for anything else.
 *
 * | input | key | fingerprint |
 * | --- | --- | --- |
 * | EventBridge event | `id` | `source`, `detail-type`, `detail` |
 * | SQS record | `messageId` | `body`, `messageAttributes` |
 * | SNS event (one record) or SNS record | `Sns.MessageId` | `Sns.Message`, `Sns.Subject`, `Sns.MessageAttributes` |
 * | DynamoDB Streams record | `eventID` | `dynamodb.Keys`, `dynamodb.NewImage`, `dynamodb.OldImage` |
 * | Kinesis record | `eventID` | `kinesis.partitionKey`, `kinesis.data` |
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
  const records = input.Records
  if (
    Array.isArray(records) &&
    records.length === 1 &&
    isObject(records[0]) &&
    records[0].EventSource === 'aws:sns'
  ) {
    return recordIdentity(records[0])
  }
  return recordIdentity(input)
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
  return undefined
}

import { describe, expect, it } from 'vitest'
import { IdempotencyKeyReusedError, MemoryStore, makeIdempotent } from '../../../src/index.js'
import { sourceIdentity } from '../../../src/sources/default-keys.js'
import { loadEvent } from '../../helpers/events.js'

// biome-ignore lint/suspicious/noExplicitAny: fixtures are read and edited freely
type AnyEvent = Record<string, any>

const sqsRecord = (overrides: AnyEvent = {}): AnyEvent => ({
  messageId: '059f36b4-87a3-44ab-83d2-661975830a7d',
  receiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...',
  body: '{"eventId":"evt_1","orderId":"ord_1"}',
  attributes: { ApproximateReceiveCount: '1', SentTimestamp: '1795867200000' },
  messageAttributes: {},
  md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:orders',
  awsRegion: 'us-east-1',
  ...overrides,
})

const once = () => {
  let runs = 0
  const handle = makeIdempotent(
    async (_event: AnyEvent) => {
      runs++
      return runs
    },
    { store: new MemoryStore(), name: 'consumer' },
  )
  return { handle, runs: () => runs }
}

describe('default keys of event sources', () => {
  it('keys an EventBridge event by its id', () => {
    expect(sourceIdentity(loadEvent('eventbridge-order-paid.json'))).toMatchObject({
      source: 'eventbridge',
      key: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    })
  })

  it('keys an SNS event and an SNS record by MessageId', () => {
    const event = loadEvent<AnyEvent>('sns-order-paid.json')
    expect(sourceIdentity(event)).toMatchObject({
      source: 'sns',
      key: '95df01b4-ee98-5cb9-9903-4c221d41eb5e',
    })
    expect(sourceIdentity(event.Records[0])).toMatchObject({ key: '95df01b4-ee98-5cb9-9903-4c221d41eb5e' })
  })

  it('keys DynamoDB Streams and SQS records by their ids', () => {
    expect(sourceIdentity(loadEvent('dynamodb-stream-record.json'))).toMatchObject({
      source: 'dynamodb-streams',
      key: 'c4ca4238a0b923820dcc509a6f75849b',
    })
    expect(sourceIdentity(sqsRecord())).toMatchObject({
      source: 'sqs',
      key: '059f36b4-87a3-44ab-83d2-661975830a7d',
    })
  })

  it('leaves other inputs to the whole-input hash', () => {
    expect(sourceIdentity({ id: 'x' })).toBeUndefined()
    expect(sourceIdentity('text')).toBeUndefined()
    expect(sourceIdentity({ Records: [{ eventSource: 'aws:s3' }] })).toBeUndefined()
  })

  it('recognises a batch of several records as a batch, with no one key', () => {
    expect(sourceIdentity({ Records: [sqsRecord(), sqsRecord()] })).toMatchObject({
      source: 'sqs',
      key: undefined,
      records: 2,
    })
  })

  it('replays a redelivered SQS record although its receipt handle and receive count changed', async () => {
    const { handle, runs } = once()
    await handle(sqsRecord())
    const redelivery = sqsRecord({
      receiptHandle: 'AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq...',
      attributes: { ApproximateReceiveCount: '2', SentTimestamp: '1795867200000' },
    })
    await expect(handle(redelivery)).resolves.toBe(1)
    expect(runs()).toBe(1)
  })

  it('replays a redelivered SNS event although its signature and timestamp changed', async () => {
    const { handle, runs } = once()
    const event = loadEvent<AnyEvent>('sns-order-paid.json')
    await handle(event)
    const redelivery = loadEvent<AnyEvent>('sns-order-paid.json')
    redelivery.Records[0].Sns.Signature = 'another-signature'
    redelivery.Records[0].Sns.Timestamp = '2026-11-28T12:00:05.000Z'
    await expect(handle(redelivery)).resolves.toBe(1)
    expect(runs()).toBe(1)
  })

  it('answers 422 when the same EventBridge id arrives with another payload', async () => {
    const { handle } = once()
    await handle(loadEvent('eventbridge-order-paid.json'))
    const tampered = loadEvent<AnyEvent>('eventbridge-order-paid.json')
    tampered.detail.amount = 1
    await expect(handle(tampered)).rejects.toBeInstanceOf(IdempotencyKeyReusedError)
  })
})

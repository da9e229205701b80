import { randomUUID } from 'node:crypto'
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs'
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda'
import { localLambdaContext } from './lambda-context.js'

/** Options of {@link startSqsEventSource}. */
export interface SqsEventSourceOptions {
  client: SQSClient
  queueUrl: string
  queueArn: string
  /** Watched to report messages that the queue moved to its dead-letter queue. */
  deadLetterQueueUrl?: string
  /** The consumer, called as Lambda's event source mapping calls it. */
  handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>
  /** @default 'OrderConsumer' */
  functionName?: string
  /** The consumer's timeout, for its context's remaining time. @default 10_000 */
  timeoutMs?: number
  /** @default 10 */
  batchSize?: number
  /** Delivers every batch a second time right after the first, as SQS sometimes does. @default false */
  duplicateDeliveries?: boolean
  /** Where the console lines go. @default console.log */
  log?: (line: string) => void
}

/** A running poller. */
export interface SqsEventSource {
  /** Batches handed to the consumer so far, duplicates included. */
  readonly invocations: number
  /** Messages handed over again: a duplicate delivery or a receive after a failure. */
  readonly redeliveries: number
  /** Resolves once the queue holds no message, visible or in flight, and no batch is running. */
  settled(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

/**
 * What Lambda's SQS event source mapping does, against any SQS-compatible endpoint: long-polls
 * the queue, hands each batch to the consumer as a real-shaped `SQSEvent`, deletes the records
 * that succeeded and leaves those in `batchItemFailures` (or the whole batch when the consumer
 * throws) to come back after the visibility timeout; the queue's redrive policy moves messages
 * received too often to the dead-letter queue.
 *
 * @example
 * const source = startSqsEventSource({ client, queueUrl, queueArn, handler, duplicateDeliveries: true })
 * await source.settled()
 * await source.stop()
 */
export const startSqsEventSource = (options: SqsEventSourceOptions): SqsEventSource => {
  const log = options.log ?? console.log
  const functionName = options.functionName ?? 'OrderConsumer'
  let running = true
  let busy = false
  let invocations = 0
  let redeliveries = 0
  let deadLettered = 0

  const invoke = async (messages: Message[], receive: (message: Message) => number) => {
    invocations++
    redeliveries += messages.filter((message) => receive(message) > 1).length
    const event: SQSEvent = {
      Records: messages.map((message) => toRecord(message, options.queueArn, receive)),
    }
    try {
      const response = await options.handler(
        event,
        localLambdaContext(functionName, options.timeoutMs ?? 10_000),
      )
      return new Set((response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier))
    } catch (error) {
      log(`[queue] ${functionName} threw (${(error as Error).message}): the whole batch comes back`)
      return new Set(messages.map((message) => message.MessageId as string))
    }
  }

  const pollOnce = async () => {
    const { Messages: messages = [] } = await options.client.send(
      new ReceiveMessageCommand({
        QueueUrl: options.queueUrl,
        MaxNumberOfMessages: options.batchSize ?? 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    )
    if (messages.length === 0) return watchDeadLetters()
    busy = true
    try {
      log(`[queue] delivering ${describe(messages)} to ${functionName}`)
      const failed = await invoke(messages, receiveCount)
      if (options.duplicateDeliveries) {
        log(`[queue] delivering the same ${plural(messages.length, 'message')} again (duplicate delivery)`)
        for (const id of await invoke(messages, (message) => receiveCount(message) + 1)) failed.add(id)
      }
      const done = messages.filter((message) => !failed.has(message.MessageId as string))
      if (done.length > 0) {
        await options.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: options.queueUrl,
            Entries: done.map((message, index) => ({
              Id: String(index),
              ReceiptHandle: message.ReceiptHandle,
            })),
          }),
        )
      }
      if (failed.size > 0) {
        log(`[queue] ${plural(failed.size, 'message')} failed: delivered again after the visibility timeout`)
      }
    } finally {
      busy = false
    }
  }

  const watchDeadLetters = async () => {
    if (options.deadLetterQueueUrl === undefined) return
    const count = await approximateCount(options.client, options.deadLetterQueueUrl)
    if (count > deadLettered) {
      log(`[queue] ${plural(count - deadLettered, 'message')} moved to the dead-letter queue`)
    }
    deadLettered = count
  }

  const loop = (async () => {
    while (running) {
      try {
        await pollOnce()
      } catch (error) {
        if (!running) return
        log(`[queue] polling failed: ${(error as Error).message}`)
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    }
  })()

  return {
    get invocations() {
      return invocations
    },
    get redeliveries() {
      return redeliveries
    },
    settled: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const { Attributes = {} } = await options.client.send(
          new GetQueueAttributesCommand({
            QueueUrl: options.queueUrl,
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
          }),
        )
        const pending =
          Number(Attributes.ApproximateNumberOfMessages ?? 0) +
          Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0)
        if (pending === 0 && !busy) return
        if (Date.now() > deadline) throw new Error(`the queue did not settle within ${timeoutMs} ms`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    stop: async () => {
      running = false
      await loop
    },
  }
}

const receiveCount = (message: Message): number => Number(message.Attributes?.ApproximateReceiveCount ?? 1)

const toRecord = (message: Message, queueArn: string, receive: (message: Message) => number): SQSRecord => {
  const attributes = message.Attributes ?? {}
  return {
    messageId: message.MessageId as string,
    // A fresh handle per delivery, as SQS gives: never a key.
    receiptHandle: `${message.ReceiptHandle}-${randomUUID()}`,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: String(receive(message)),
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? '000000000000',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: toLambdaAttributes(message.MessageAttributes ?? {}),
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes === undefined
      ? {}
      : { md5OfMessageAttributes: message.MD5OfMessageAttributes }),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: queueArn.split(':')[3] ?? 'us-east-1',
  }
}

// Lambda spells message attributes in camelCase and always lists the (unused) list values.
const toLambdaAttributes = (attributes: Record<string, MessageAttributeValue>): SQSMessageAttributes =>
  Object.fromEntries(
    Object.entries(attributes).map(([name, value]) => [
      name,
      {
        dataType: value.DataType ?? 'String',
        ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
        ...(value.BinaryValue === undefined
          ? {}
          : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
        stringListValues: [],
        binaryListValues: [],
      },
    ]),
  ) as SQSMessageAttributes

const approximateCount = async (client: SQSClient, queueUrl: string): Promise<number> => {
  const { Attributes = {} } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
  )
  return Number(Attributes.ApproximateNumberOfMessages ?? 0)
}

const describe = (messages: Message[]): string =>
  `${plural(messages.length, 'message')} (${messages
    .map((message) => `${message.MessageId?.slice(0, 8)}, receive ${receiveCount(message)}`)
    .join('; ')})`

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`

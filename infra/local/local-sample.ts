import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams'
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs'
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb'
import { outcomeListeners } from '../functions/metrics.js'
import type { Charge, ProviderBehaviour } from '../functions/payment-provider.js'
import type { PayloadVersion } from './api-gateway-events.js'
import { type DynamoDBLocal, localClientConfig, startDynamoDBLocal } from './dynamodb-local.js'
import {
  type DynamoDBStreamSource,
  enableStream,
  startDynamoDBStreamSource,
} from './dynamodb-stream-source.js'
import { type LocalApi, startLocalApi } from './local-api.js'
import { type LocalSqs, startLocalSqs } from './local-sqs.js'
import { type OutcomeTimeline, pageActions, pageFiles, startOutcomeTimeline } from './page/page-routes.js'
import { createSampleTables, type SampleTableNames, sampleTableNames } from './sample-tables.js'
import { type SqsEventSource, startSqsEventSource } from './sqs-event-source.js'

/** Options of {@link startLocalSample}. */
export interface LocalSampleOptions {
  /** Port of the API on 127.0.0.1; `0` picks a free one. @default 3000 */
  port?: number
  /** A DynamoDB endpoint to use instead of starting DynamoDB Local. @default an embedded DynamoDB Local */
  dynamodbEndpoint?: string
  /** Prefix of the table names. @default 'sample' */
  tablePrefix?: string
  /** The API Gateway payload the payment function receives. @default '2.0' (HTTP API, as deployed) */
  payloadVersion?: PayloadVersion
  /** Deliver every batch of the queue twice. @default false */
  duplicateDeliveries?: boolean
  /** Seconds before a failed message comes back. Shorter than in AWS so a retry shows quickly. @default 5 */
  visibilityTimeoutSeconds?: number
  /** Deliveries before a message moves to the dead-letter queue. @default 3 */
  maxReceiveCount?: number
  /** How long the simulated payment provider takes per new charge. @default 100 */
  providerLatencyMs?: number
  /** How long a new charge takes when the page makes the provider slow. @default 4_000 */
  slowProviderLatencyMs?: number
  /** Where the console lines go. @default console.log */
  log?: (line: string) => void
}

/** How many charges and records {@link LocalSampleState} lists (it counts them all). */
export const LIST_LENGTH = 100

/** What the local run holds, as `GET /_local/state` shows it (and the page at `GET /`). */
export interface LocalSampleState {
  payments: Record<string, unknown>[]
  providerCharges: number
  orders: Record<string, unknown>[]
  stock: Record<string, number>
  deadLetters: number
  /** Receipts the receipt sender has sent: one per order. */
  receiptsSent: number
  /** The provider's newest {@link LIST_LENGTH} charges, newest first, and how it answers now. */
  charges: Charge[]
  provider: ProviderBehaviour
  /**
   * The newest {@link LIST_LENGTH} records of the idempotency table, the last seen first: hashed ids
   * only, never a raw key or a stored result.
   */
  records: IdempotencyRecordView[]
  /** The order events queue: waiting, in flight (received, not yet deleted), handed over again. */
  queue: { waiting: number; inFlight: number; batches: number; redeliveries: number; deadLetters: number }
  /** The last outcomes the functions reported through `onEvent`, newest first. */
  timeline: OutcomeTimeline['entries']
}

/** An idempotency record as the page shows it. */
export interface IdempotencyRecordView {
  id: string
  /** The function whose outcomes named this id, when the timeline still holds one. */
  functionName: string | undefined
  status: string
  leaseExpiresAtMs: number | undefined
  expiresAtSeconds: number
}

/** A running local sample. */
export interface LocalSample {
  /** The API, e.g. `http://127.0.0.1:3000`: `POST {url}/payments`. */
  url: string
  dynamodbEndpoint: string
  sqs: LocalSqs
  tables: SampleTableNames
  eventSource: SqsEventSource
  /** The orders table's stream, delivered to the receipt sender. */
  streamSource: DynamoDBStreamSource
  /** The payments table's stream, delivered to the outbox relay that sends order_paid. */
  outboxSource: DynamoDBStreamSource
  state(): Promise<LocalSampleState>
  stop(): Promise<void>
}

/**
 * Runs the sample on this machine with the handlers the stack deploys: DynamoDB Local (or the
 * endpoint given), the tables, a local SQS server (fauxqs) with the order events queue and its
 * dead-letter queue, a poller that calls the consumer as Lambda's event source mapping does, and
 * the API on 127.0.0.1. The functions read their configuration from `process.env`, set here before
 * they are first imported, so one process runs one local sample.
 *
 * @example
 * const sample = await startLocalSample({ port: 0, duplicateDeliveries: true })
 * await fetch(`${sample.url}/payments`, { method: 'POST', headers: { 'idempotency-key': 'k1' }, body })
 * await sample.stop()
 */
export const startLocalSample = async (options: LocalSampleOptions = {}): Promise<LocalSample> => {
  const log = options.log ?? console.log
  const stops: (() => Promise<void>)[] = []
  const stop = async () => {
    for (const stopOne of stops.reverse()) await stopOne()
  }
  try {
    let dynamodbEndpoint = options.dynamodbEndpoint
    if (dynamodbEndpoint === undefined) {
      const dynamo: DynamoDBLocal = await startDynamoDBLocal()
      stops.push(dynamo.stop)
      dynamodbEndpoint = dynamo.endpoint
    }
    const dynamodb = new DynamoDBClient(localClientConfig(dynamodbEndpoint))
    stops.push(async () => dynamodb.destroy())
    const documents = DynamoDBDocumentClient.from(dynamodb)
    const tables = sampleTableNames(options.tablePrefix ?? 'sample')
    await createSampleTables(dynamodb, tables)

    const sqs = await startLocalSqs({
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 5,
      maxReceiveCount: options.maxReceiveCount ?? 3,
    })
    stops.push(sqs.stop)

    const functions = await loadFunctions({
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      DYNAMODB_ENDPOINT: dynamodbEndpoint,
      SQS_ENDPOINT: sqs.endpoint,
      IDEMPOTENCY_TABLE: tables.idempotencyTable,
      PAYMENTS_TABLE: tables.paymentsTable,
      ORDERS_TABLE: tables.ordersTable,
      STOCK_TABLE: tables.stockTable,
      ORDER_EVENTS_QUEUE_URL: sqs.queueUrl,
      PROVIDER_LATENCY_MS: String(options.providerLatencyMs ?? 100),
    })

    const timeline = startOutcomeTimeline(outcomeListeners)
    stops.push(async () => timeline.stop())

    const eventSource = startSqsEventSource({
      client: sqs.client,
      queueUrl: sqs.queueUrl,
      queueArn: sqs.queueArn,
      deadLetterQueueUrl: sqs.deadLetterQueueUrl,
      handler: functions.consumer.handler,
      functionName: 'OrderConsumer',
      timeoutMs: 10_000,
      duplicateDeliveries: options.duplicateDeliveries ?? false,
      log,
    })
    stops.push(eventSource.stop)

    const streams = new DynamoDBStreamsClient(localClientConfig(dynamodbEndpoint))
    stops.push(async () => streams.destroy())
    const streamSource = startDynamoDBStreamSource({
      client: streams,
      streamArn: await enableStream(dynamodb, tables.ordersTable),
      handler: functions.receipts.handler,
      functionName: 'OrderReceipts',
      duplicateDeliveries: options.duplicateDeliveries ?? false,
      log,
    })
    stops.push(streamSource.stop)

    // The outbox: the payments table's stream feeds the relay that sends each row's order_paid to
    // the queue, as the stack wires it. The queue counts as settled once the relay has caught up.
    const outboxSource = startDynamoDBStreamSource({
      client: streams,
      streamArn: await enableStream(dynamodb, tables.paymentsTable),
      handler: functions.outbox.handler,
      functionName: 'PaymentOutbox',
      duplicateDeliveries: options.duplicateDeliveries ?? false,
      log,
    })
    stops.push(outboxSource.stop)
    const settleQueue = eventSource.settled
    eventSource.settled = async (timeoutMs) => {
      await outboxSource.settled(timeoutMs)
      await settleQueue(timeoutMs)
    }

    const state = async (): Promise<LocalSampleState> => {
      const scan = async (tableName: string) =>
        (await documents.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }))).Items ?? []
      const attributes = async (queueUrl: string) =>
        (
          await sqs.client.send(
            new GetQueueAttributesCommand({
              QueueUrl: queueUrl,
              AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
            }),
          )
        ).Attributes ?? {}
      const [stock, payments, orders, records, queue, deadLetterQueue] = await Promise.all([
        scan(tables.stockTable),
        scan(tables.paymentsTable),
        scan(tables.ordersTable),
        scan(tables.idempotencyTable),
        attributes(sqs.queueUrl),
        attributes(sqs.deadLetterQueueUrl),
      ])
      const provider = functions.payment.paymentProvider
      const deadLetters = Number(deadLetterQueue.ApproximateNumberOfMessages ?? 0)
      return {
        payments: payments.sort(byNewest),
        providerCharges: provider.chargeCount,
        orders: orders.sort(byNewest),
        stock: Object.fromEntries(stock.map((item) => [item.sku as string, Number(item.available)])),
        receiptsSent: functions.receipts.sentReceipts.length,
        deadLetters,
        charges: provider.charges.slice(-LIST_LENGTH).reverse(),
        provider: { ...provider.behaviour },
        records: records
          .map((item) => ({
            id: String(item.id),
            functionName: timeline.functionOf(String(item.id)),
            status: String(item.status),
            leaseExpiresAtMs: item.leaseExpiresAt === undefined ? undefined : Number(item.leaseExpiresAt),
            expiresAtSeconds: Number(item.expiration),
          }))
          .sort((a, b) => timeline.lastSeen(b.id) - timeline.lastSeen(a.id))
          .slice(0, LIST_LENGTH),
        queue: {
          waiting: Number(queue.ApproximateNumberOfMessages ?? 0),
          inFlight: Number(queue.ApproximateNumberOfMessagesNotVisible ?? 0),
          batches: eventSource.invocations,
          redeliveries: eventSource.redeliveries,
          deadLetters,
        },
        timeline: timeline.entries,
      }
    }

    const api: LocalApi = await startLocalApi({
      port: options.port ?? 3000,
      payloadVersion: options.payloadVersion ?? '2.0',
      routes: [
        {
          method: 'POST',
          path: '/payments',
          routeKey: 'POST /payments',
          resource: '/payments',
          functionName: 'Payment',
          handler: functions.payment.handler,
        },
      ],
      inspect: { '/_local/state': state },
      // The page at `/`: see infra/local/page/page-routes.ts.
      files: pageFiles,
      streams: { '/_local/state/stream': { read: state, intervalMs: 500 } },
      actions: pageActions({
        provider: functions.payment.paymentProvider,
        normalLatencyMs: options.providerLatencyMs ?? 100,
        slowLatencyMs: options.slowProviderLatencyMs ?? 4_000,
        sqs,
      }),
      log,
    })
    stops.push(api.stop)

    return {
      url: api.url,
      dynamodbEndpoint,
      sqs,
      tables,
      eventSource,
      streamSource,
      outboxSource,
      state,
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

const byNewest = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  String(b.createdAt ?? '').localeCompare(String(a.createdAt ?? ''))

let loadedWith: string | undefined

// The functions read process.env when their module is first evaluated, as in Lambda.
const loadFunctions = async (environment: Record<string, string>) => {
  const fingerprint = JSON.stringify(environment)
  if (loadedWith !== undefined && loadedWith !== fingerprint) {
    throw new Error(
      'the sample functions were already loaded in this process with other endpoints or tables: run one local sample per process',
    )
  }
  Object.assign(process.env, environment)
  loadedWith = fingerprint
  const [payment, consumer, receipts, outbox] = await Promise.all([
    import('../functions/payment.js'),
    import('../functions/order-consumer.js'),
    import('../functions/order-receipts.js'),
    import('../functions/payment-outbox.js'),
  ])
  return { payment, consumer, receipts, outbox }
}

import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams'
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs'
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb'
import type { IdempotencyEvent } from '../../src/index.js'
import { functionTimeoutSeconds, type SampleFunctionName } from '../function-timeouts.js'
import { outcomeListeners } from '../functions/metrics.js'
import type { Receipt } from '../functions/order-receipts.js'
import {
  type Charge,
  type ProviderBehaviour,
  SimulatedPaymentProvider,
} from '../functions/payment-provider.js'
import type { PayloadVersion } from './api-gateway-events.js'
import { type DynamoDBLocal, localClientConfig, startDynamoDBLocal } from './dynamodb-local.js'
import {
  type DynamoDBStreamSource,
  enableStream,
  startDynamoDBStreamSource,
} from './dynamodb-stream-source.js'
import { type Fault, type LocalFunction, startLocalFunction } from './function-runner.js'
import { type LocalApi, startLocalApi } from './local-api.js'
import { type LocalSqs, startLocalSqs } from './local-sqs.js'
import { type OutcomeTimeline, pageActions, pageFiles, startOutcomeTimeline } from './page/page-routes.js'
import { startPaymentProviderService } from './payment-provider-service.js'
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
  /**
   * Each function's timeout in milliseconds, where a run wants a shorter one than the stack's.
   * @default the deployed timeouts of `infra/function-timeouts.ts`
   */
  timeoutsMs?: Partial<Record<SampleFunctionName, number>>
  /** Sandboxes each function runs at once (Lambda's concurrency); more invocations wait. @default 4 */
  concurrency?: number
  /** Decides, per invocation, whether and where it dies (the chaos run). @default none */
  faults?: (functionName: SampleFunctionName, event: unknown) => Fault | undefined
  /**
   * Runs the functions with `SAMPLE_UNPROTECTED=1`: no transactional completion in the order
   * consumer and a new provider key per payment run, to show what they prevent. @default false
   */
  unprotected?: boolean
  /** Where the functions' output lines go. @default this process's stdout / stderr */
  functionOutput?: (line: string, stream: 'stdout' | 'stderr') => void
  /** Where the console lines go. @default console.log */
  log?: (line: string) => void
}

/** The sample's functions, each run in sandboxes as Lambda runs it (see `function-runner.ts`). */
export interface SampleFunctions {
  payment: LocalFunction
  consumer: LocalFunction
  receipts: LocalFunction
  outbox: LocalFunction
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
  functions: SampleFunctions
  /** The simulated payment provider: it lives here, outside the sandboxes, as a real one would. */
  provider: SimulatedPaymentProvider
  /** Receipts the receipt sender has sent: what the customers' inboxes would show. */
  sentReceipts: Receipt[]
  state(): Promise<LocalSampleState>
  stop(): Promise<void>
}

/**
 * Runs the sample on this machine with the handlers the stack deploys: DynamoDB Local (or the
 * endpoint given), the tables, a local SQS server (fauxqs) with the order events queue and its
 * dead-letter queue, a poller that calls the consumer as Lambda's event source mapping does, and
 * the API on 127.0.0.1. Each function runs in sandboxes (worker threads) with its own environment
 * and is ended at its deployed timeout, as Lambda ends it; the payment provider and the receipts
 * live here, outside the sandboxes.
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

    const provider = new SimulatedPaymentProvider({ latencyMs: options.providerLatencyMs ?? 100 })
    const sentReceipts: Receipt[] = []
    let functions: SampleFunctions | undefined
    const providerService = await startPaymentProviderService({
      provider,
      // The chaos run's kill between the charge and the completion: the charge exists, the answer is lost.
      afterCharge: async (threadId) => {
        if (functions?.payment.faultOf(threadId)?.killAt === 'after-effect')
          await functions.payment.kill(threadId)
      },
    })
    stops.push(providerService.stop)

    const timeline = startOutcomeTimeline(outcomeListeners)
    stops.push(async () => timeline.stop())

    functions = await startSampleFunctions(options, sentReceipts, {
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
      PAYMENT_PROVIDER_URL: providerService.url,
      ...(options.unprotected ? { SAMPLE_UNPROTECTED: '1' } : {}),
    })
    const { payment, consumer, receipts, outbox } = functions
    stops.push(async () => {
      await Promise.all([payment.stop(), consumer.stop(), receipts.stop(), outbox.stop()])
    })

    // Event sources: the queue to the consumer, each table stream to its function.
    const eventSource = startSqsEventSource({
      client: sqs.client,
      queueUrl: sqs.queueUrl,
      queueArn: sqs.queueArn,
      deadLetterQueueUrl: sqs.deadLetterQueueUrl,
      handler: consumer.handler,
      functionName: consumer.name,
      timeoutMs: timeoutOf(options, 'OrderConsumer'),
      duplicateDeliveries: options.duplicateDeliveries ?? false,
      log,
    })
    stops.push(eventSource.stop)

    const streams = new DynamoDBStreamsClient(localClientConfig(dynamodbEndpoint))
    stops.push(async () => streams.destroy())
    const streamSource = startDynamoDBStreamSource({
      client: streams,
      streamArn: await enableStream(dynamodb, tables.ordersTable),
      handler: receipts.handler,
      functionName: receipts.name,
      timeoutMs: timeoutOf(options, 'OrderReceipts'),
      duplicateDeliveries: options.duplicateDeliveries ?? false,
      log,
    })
    stops.push(streamSource.stop)

    // The outbox: the payments table's stream feeds the relay that sends each row's order_paid to
    // the queue, as the stack wires it. The queue counts as settled once the relay has caught up.
    const outboxSource = startDynamoDBStreamSource({
      client: streams,
      streamArn: await enableStream(dynamodb, tables.paymentsTable),
      handler: outbox.handler,
      functionName: outbox.name,
      timeoutMs: timeoutOf(options, 'PaymentOutbox'),
      // As the stack's mapping: a crashed relay's record is retried until its claim's lease ends.
      retryAttempts: 10,
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
      const deadLetters = Number(deadLetterQueue.ApproximateNumberOfMessages ?? 0)
      return {
        payments: payments.sort(byNewest),
        providerCharges: provider.chargeCount,
        orders: orders.sort(byNewest),
        stock: Object.fromEntries(stock.map((item) => [item.sku as string, Number(item.available)])),
        receiptsSent: sentReceipts.length,
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
          functionName: payment.name,
          handler: payment.handler,
          timeoutMs: timeoutOf(options, 'Payment'),
        },
      ],
      inspect: { '/_local/state': state },
      // The page at `/`: see infra/local/page/page-routes.ts.
      files: pageFiles,
      streams: { '/_local/state/stream': { read: state, intervalMs: 500 } },
      actions: pageActions({
        provider,
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
      functions,
      provider,
      sentReceipts,
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

const timeoutOf = (options: LocalSampleOptions, name: SampleFunctionName): number =>
  options.timeoutsMs?.[name] ?? functionTimeoutSeconds[name] * 1000

// Each function in its own sandboxes, with its own environment, as Lambda runs it.
const startSampleFunctions = async (
  options: LocalSampleOptions,
  sentReceipts: Receipt[],
  environment: Record<string, string>,
): Promise<SampleFunctions> => {
  const started: LocalFunction[] = []
  const start = async (
    name: SampleFunctionName,
    file: string,
    forward?: Record<string, (...args: unknown[]) => void>,
  ) => {
    const fn = await startLocalFunction({
      name,
      entry: new URL(`../functions/${file}`, import.meta.url),
      timeoutMs: timeoutOf(options, name),
      environment,
      maxConcurrency: options.concurrency ?? 4,
      onOutcome: (event, functionName) => {
        for (const listener of outcomeListeners) listener(event as IdempotencyEvent, functionName)
      },
      forward,
      faults: options.faults === undefined ? undefined : (event) => options.faults?.(name, event),
      output: options.functionOutput,
      log: options.log,
    })
    started.push(fn)
    return fn
  }
  try {
    return {
      payment: await start('Payment', 'payment.ts'),
      consumer: await start('OrderConsumer', 'order-consumer.ts'),
      receipts: await start('OrderReceipts', 'order-receipts.ts', {
        receiptListeners: (receipt) => sentReceipts.push(receipt as Receipt),
      }),
      outbox: await start('PaymentOutbox', 'payment-outbox.ts'),
    }
  } catch (error) {
    await Promise.all(started.map((fn) => fn.stop()))
    throw error
  }
}

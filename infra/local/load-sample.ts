import { startLocalSample } from './local-sample.js'
import type { SampleTableNames } from './sample-tables.js'
import { type SqsEventSource, startSqsEventSource } from './sqs-event-source.js'

/** EMF metric counts, by `FunctionName` dimension, then by metric name. */
export type EmfCounts = Record<string, Record<string, number>>

/** The local sample as the load test drives it, in this process or in a child. */
export interface LoadSample {
  url: string
  dynamodbEndpoint: string
  sqsEndpoint: string
  queueUrl: string
  deadLetterQueueUrl: string
  tables: SampleTableNames
  /** Pollers handing batches of the order events queue to the consumer at the same time. */
  pollers: number
  /** Resolves once the queue holds no message, visible or in flight, and no batch is running. */
  settled(timeoutMs: number): Promise<void>
  /** Batches handed to the consumer so far, over all pollers. */
  invocations(): Promise<number>
  /** The EMF metrics the functions wrote to standard output so far. */
  metrics(): Promise<EmfCounts>
  stop(): Promise<void>
}

/** Options of {@link startLoadSample}. */
export interface LoadSampleOptions {
  /** @default an embedded DynamoDB Local */
  dynamodbEndpoint?: string
  /** @default 'sample' */
  tablePrefix?: string
  /** Concurrent pollers, as Lambda's event source mapping runs several batches at once. @default 5 */
  pollers?: number
  /** @default 2 */
  visibilityTimeoutSeconds?: number
  /** @default 5 */
  maxReceiveCount?: number
  /** @default 100 */
  providerLatencyMs?: number
  /** EMF lines still reach standard output besides being counted. @default false */
  printMetrics?: boolean
  /** The local API's and pollers' lines. @default discarded */
  log?: (line: string) => void
}

/**
 * Starts the local sample ({@link startLocalSample}) for a load run: a free port, more pollers on
 * the order events queue, and the functions' EMF lines counted as they are written.
 *
 * @example
 * const sample = await startLoadSample({ dynamodbEndpoint, tablePrefix: 'load-1' })
 * await sample.stop()
 */
export const startLoadSample = async (options: LoadSampleOptions = {}): Promise<LoadSample> => {
  const log = options.log ?? (() => {})
  const pollers = options.pollers ?? 5
  if (!Number.isInteger(pollers) || pollers < 1)
    throw new Error(`pollers must be a positive integer, got ${pollers}`)
  const emf = countEmfLines(options.printMetrics ?? false)
  const extra: SqsEventSource[] = []
  try {
    const sample = await startLocalSample({
      port: 0,
      dynamodbEndpoint: options.dynamodbEndpoint,
      tablePrefix: options.tablePrefix,
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 2,
      maxReceiveCount: options.maxReceiveCount ?? 5,
      providerLatencyMs: options.providerLatencyMs ?? 100,
      // A sandbox per poller, and as many for the API.
      concurrency: Math.max(4, pollers),
      log,
    })
    // The same consumer (its sandboxes, its timeout) as the sample's own poller.
    const consumer = sample.functions.consumer
    for (let index = 1; index < pollers; index++) {
      extra.push(
        startSqsEventSource({
          client: sample.sqs.client,
          queueUrl: sample.sqs.queueUrl,
          queueArn: sample.sqs.queueArn,
          handler: consumer.handler,
          functionName: consumer.name,
          log,
        }),
      )
    }
    const sources = [sample.eventSource, ...extra]
    return {
      url: sample.url,
      dynamodbEndpoint: sample.dynamodbEndpoint,
      sqsEndpoint: sample.sqs.endpoint,
      queueUrl: sample.sqs.queueUrl,
      deadLetterQueueUrl: sample.sqs.deadLetterQueueUrl,
      tables: sample.tables,
      pollers,
      settled: async (timeoutMs) => {
        await Promise.all(sources.map((source) => source.settled(timeoutMs)))
      },
      invocations: async () => sources.reduce((sum, source) => sum + source.invocations, 0),
      metrics: async () => structuredClone(emf.counts),
      stop: async () => {
        for (const source of extra) await source.stop()
        await sample.stop()
        emf.restore()
      },
    }
  } catch (error) {
    for (const source of extra) await source.stop()
    emf.restore()
    throw error
  }
}

/**
 * Counts the EMF lines written to `process.stdout` (one `write` per line, as `emfMetrics` does)
 * until `restore()`; other output passes through untouched.
 */
const countEmfLines = (passThrough: boolean) => {
  const counts: EmfCounts = {}
  const stdout = process.stdout
  const write = stdout.write
  stdout.write = function (this: typeof stdout, chunk: unknown, ...rest: unknown[]) {
    if (typeof chunk === 'string' && chunk.startsWith('{"_aws"')) {
      tally(counts, chunk)
      if (!passThrough) {
        const callback = rest.find((argument) => typeof argument === 'function') as (() => void) | undefined
        callback?.()
        return true
      }
    }
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest)
  } as typeof stdout.write
  return {
    counts,
    restore: () => {
      stdout.write = write
    },
  }
}

const tally = (counts: EmfCounts, line: string) => {
  try {
    const document = JSON.parse(line) as Record<string, unknown> & {
      _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] }
    }
    for (const directive of document._aws.CloudWatchMetrics) {
      const functionName = String(document[directive.Dimensions[0]?.[0] ?? ''] ?? '')
      const byMetric = counts[functionName] ?? {}
      counts[functionName] = byMetric
      for (const { Name } of directive.Metrics)
        byMetric[Name] = (byMetric[Name] ?? 0) + Number(document[Name] ?? 0)
    }
  } catch {
    // not an EMF document after all: not counted
  }
}

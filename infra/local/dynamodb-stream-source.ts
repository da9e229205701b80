import { DescribeTableCommand, type DynamoDBClient, UpdateTableCommand } from '@aws-sdk/client-dynamodb'
import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams'
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda'
import { localLambdaContext } from './lambda-context.js'

/** Options of {@link startDynamoDBStreamSource}. */
export interface DynamoDBStreamSourceOptions {
  /** A DynamoDB Streams client for the endpoint of the table (DynamoDB Local serves both APIs). */
  client: DynamoDBStreamsClient
  /** The table's `LatestStreamArn`. */
  streamArn: string
  /** The consumer, called as Lambda's event source mapping calls it. */
  handler: (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse | undefined>
  /** @default 'OrderReceipts' */
  functionName?: string
  /** The consumer's timeout, for its context's remaining time. @default 10_000 */
  timeoutMs?: number
  /** @default 10 */
  batchSize?: number
  /** Retries of a failing batch before its records go to the on-failure destination. @default 3 */
  retryAttempts?: number
  /** Delivers every batch a second time right after the first. @default false */
  duplicateDeliveries?: boolean
  /** Pause between polls of an idle shard. @default 200 */
  pollIntervalMs?: number
  /** Where the console lines go. @default console.log */
  log?: (line: string) => void
}

/** A running poller. */
export interface DynamoDBStreamSource {
  /** Batches handed to the consumer so far, duplicates and retries included. */
  readonly invocations: number
  /** Records given up after `retryAttempts` (what Lambda sends to the on-failure destination). */
  readonly failedRecords: readonly DynamoDBRecord[]
  /** Resolves once every shard has been read to its end and no batch is waiting or running. */
  settled(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

interface ShardState {
  shardId: string
  iterator: string | undefined
  /** The sequence number of the last record read from the shard, to get a new iterator after it. */
  lastRead: string | undefined
  /** Records read and not yet checkpointed, oldest first: a failed batch goes back here. */
  pending: DynamoDBRecord[]
  attempts: number
}

/**
 * What Lambda's DynamoDB Streams event source mapping does, against DynamoDB Local's own stream:
 * reads each shard from its start with the low-level streams API, hands batches of up to
 * `batchSize` records to the consumer as a real-shaped `DynamoDBStreamEvent`, and checkpoints
 * like `ReportBatchItemFailures`: the records before the lowest reported sequence number are
 * done, the batch is delivered again from that record (at least once, in order); a consumer that
 * throws gets the whole batch again. After `retryAttempts` retries the records from the failure
 * on are logged as sent to the on-failure destination and skipped.
 *
 * @example
 * const source = startDynamoDBStreamSource({ client, streamArn, handler, duplicateDeliveries: true })
 * await source.settled()
 * await source.stop()
 */
export const startDynamoDBStreamSource = (options: DynamoDBStreamSourceOptions): DynamoDBStreamSource => {
  const log = options.log ?? console.log
  const functionName = options.functionName ?? 'OrderReceipts'
  const batchSize = options.batchSize ?? 10
  const retryAttempts = options.retryAttempts ?? 3
  const shards = new Map<string, ShardState>()
  const failedRecords: DynamoDBRecord[] = []
  let running = true
  let busy = false
  let caughtUp = false
  let invocations = 0

  /** The sequence number the consumer reported lowest, or everything when it threw. */
  const invoke = async (batch: DynamoDBRecord[]): Promise<number> => {
    invocations++
    try {
      const response = await options.handler(
        { Records: batch },
        localLambdaContext(functionName, options.timeoutMs ?? 10_000),
      )
      const reported = new Set((response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier))
      const index = batch.findIndex((record) => reported.has(record.dynamodb?.SequenceNumber as string))
      return index === -1 ? batch.length : index
    } catch (error) {
      log(`[stream] ${functionName} threw (${(error as Error).message}): the whole batch comes back`)
      return 0
    }
  }

  const discoverShards = async () => {
    const { StreamDescription } = await options.client.send(
      new DescribeStreamCommand({ StreamArn: options.streamArn }),
    )
    for (const shard of StreamDescription?.Shards ?? []) {
      const shardId = shard.ShardId as string
      if (shards.has(shardId)) continue
      const { ShardIterator } = await options.client.send(
        new GetShardIteratorCommand({
          StreamArn: options.streamArn,
          ShardId: shardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
      shards.set(shardId, { shardId, iterator: ShardIterator, lastRead: undefined, pending: [], attempts: 0 })
    }
  }

  // DynamoDB Local sometimes refuses an iterator it handed out with TrimmedDataAccessException
  // (seen in `npm start` runs, with nothing trimmed): a fresh iterator after the last record read
  // (or from the start) reads on, as a new iterator would in AWS.
  const getRecords = async (shard: ShardState) => {
    try {
      return await options.client.send(
        new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: batchSize }),
      )
    } catch (error) {
      const name = (error as Error).name
      if (name !== 'TrimmedDataAccessException' && name !== 'ExpiredIteratorException') throw error
      const { ShardIterator } = await options.client.send(
        new GetShardIteratorCommand({
          StreamArn: options.streamArn,
          ShardId: shard.shardId,
          ...(shard.lastRead === undefined
            ? { ShardIteratorType: 'TRIM_HORIZON' }
            : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: shard.lastRead }),
        }),
      )
      return options.client.send(new GetRecordsCommand({ ShardIterator, Limit: batchSize }))
    }
  }

  /** Reads and delivers what one shard has; true when it had nothing new. */
  const pollShard = async (shard: ShardState): Promise<boolean> => {
    if (shard.pending.length === 0) {
      if (shard.iterator === undefined) return true
      const { Records = [], NextShardIterator } = await getRecords(shard)
      shard.iterator = NextShardIterator
      if (Records.length === 0) return true
      shard.lastRead = Records.at(-1)?.dynamodb?.SequenceNumber
      shard.pending.push(...Records.map((record) => toLambdaRecord(record, options.streamArn)))
    }
    busy = true
    try {
      const batch = shard.pending.slice(0, batchSize)
      log(`[stream] delivering ${plural(batch.length, 'record')} to ${functionName}`)
      let done = await invoke(batch)
      if (options.duplicateDeliveries) {
        log(`[stream] delivering the same ${plural(batch.length, 'record')} again (duplicate delivery)`)
        done = Math.min(done, await invoke(batch))
      }
      if (done === batch.length) {
        shard.pending.splice(0, batch.length)
        shard.attempts = 0
        return false
      }
      // Checkpoint before the failed record: the next batch starts with it.
      shard.pending.splice(0, done)
      shard.attempts = done > 0 ? 1 : shard.attempts + 1
      if (shard.attempts <= retryAttempts) {
        log(`[stream] a record failed: the batch is delivered again from it (retry ${shard.attempts})`)
        return false
      }
      const dropped = shard.pending.splice(0, batch.length - done)
      failedRecords.push(...dropped)
      shard.attempts = 0
      log(
        `[stream] ${plural(dropped.length, 'record')} sent to the on-failure destination after ${retryAttempts} retries`,
      )
      return false
    } finally {
      busy = false
    }
  }

  const loop = (async () => {
    while (running) {
      try {
        await discoverShards()
        let idle = true
        for (const shard of shards.values()) if (!(await pollShard(shard))) idle = false
        caughtUp = idle
        if (idle) await new Promise((resolve) => setTimeout(resolve, options.pollIntervalMs ?? 200))
      } catch (error) {
        if (!running) return
        caughtUp = false
        log(`[stream] polling failed: ${(error as Error).message}`)
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    }
  })()

  return {
    get invocations() {
      return invocations
    },
    get failedRecords() {
      return failedRecords
    },
    settled: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs
      // Two idle rounds in a row: a record written just before the call has been read by then.
      for (let idleRounds = 0; idleRounds < 2; ) {
        const before = invocations
        await new Promise((resolve) => setTimeout(resolve, (options.pollIntervalMs ?? 200) + 50))
        idleRounds = caughtUp && !busy && invocations === before ? idleRounds + 1 : 0
        if (Date.now() > deadline) throw new Error(`the stream did not settle within ${timeoutMs} ms`)
      }
    },
    stop: async () => {
      running = false
      await loop
    },
  }
}

/**
 * Turns on the table's stream (`NEW_IMAGE`, as the stack deploys it) unless it is on, and returns
 * its ARN.
 *
 * @example
 * const streamArn = await enableStream(dynamodb, 'sample-orders')
 */
export const enableStream = async (client: DynamoDBClient, tableName: string): Promise<string> => {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }))
  if (Table?.StreamSpecification?.StreamEnabled && Table.LatestStreamArn !== undefined) {
    return Table.LatestStreamArn
  }
  const { TableDescription } = await client.send(
    new UpdateTableCommand({
      TableName: tableName,
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
    }),
  )
  if (TableDescription?.LatestStreamArn === undefined) throw new Error(`${tableName} has no stream`)
  return TableDescription.LatestStreamArn
}

// The streams API returns what Lambda hands over, but a Date where Lambda has epoch seconds and
// without the stream's ARN.
const toLambdaRecord = (record: StreamRecord, streamArn: string): DynamoDBRecord => {
  const { ApproximateCreationDateTime, ...stream } = record.dynamodb ?? {}
  return {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: record.eventVersion,
    eventSource: record.eventSource ?? 'aws:dynamodb',
    awsRegion: record.awsRegion ?? streamArn.split(':')[3],
    dynamodb: {
      ...(stream as DynamoDBRecord['dynamodb']),
      ...(ApproximateCreationDateTime === undefined
        ? {}
        : { ApproximateCreationDateTime: Math.floor(ApproximateCreationDateTime.getTime() / 1000) }),
    },
    eventSourceARN: streamArn,
  }
}

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`

import { randomUUID } from 'node:crypto'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { SendMessageCommand } from '@aws-sdk/client-sqs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { localClientConfig } from '../../infra/local/dynamodb-local.js'
import { type LocalFunction, startLocalFunction } from '../../infra/local/function-runner.js'
import { startLocalSqs } from '../../infra/local/local-sqs.js'
import { startSqsEventSource } from '../../infra/local/sqs-event-source.js'
import { createIdempotencyTable, scanTable } from '../helpers/dynamodb.js'

// The local runner ends an invocation at its timeout as Lambda does: the sandbox (a worker thread)
// is terminated, so nothing the function would still do after its deadline happens.

const endpoint = inject('dynamoEndpoint')
const dynamodb = new DynamoDBClient(localClientConfig(endpoint))
const entry = new URL('../helpers/late-writer-function.ts', import.meta.url)
let tableName: string
const started: LocalFunction[] = []

const start = async (timeoutMs: number) => {
  const fn = await startLocalFunction({
    name: 'LateWriter',
    entry,
    timeoutMs,
    environment: {},
    log: () => {},
  })
  started.push(fn)
  return fn
}

const written = async () => (await scanTable(dynamodb, tableName)).map((item) => item.id?.S).sort()

beforeAll(async () => {
  // A table keyed by `id`, as the late writer writes it.
  tableName = await createIdempotencyTable(dynamodb)
})

afterAll(async () => {
  for (const fn of started) await fn.stop()
  dynamodb.destroy()
})

describe('the local function runner', () => {
  it('ends an invocation at its timeout: the write the function makes after its deadline never lands', {
    timeout: 30_000,
  }, async () => {
    const fn = await start(4_000)
    const id = `late-${randomUUID()}`

    const failure = await fn
      .invoke({ endpoint, tableName, id, waitMs: 6_000 })
      .catch((error: unknown) => error)
    expect(failure).toMatchObject({
      errorType: 'Sandbox.Timedout',
      message: 'Task timed out after 4.00 seconds',
    })
    // Well past the moment the function would have written.
    await new Promise((resolve) => setTimeout(resolve, 4_000))
    expect(await written()).not.toContain(id)
    expect(fn.stats).toMatchObject({ invocations: 1, timeouts: 1 })

    // The next invocation gets a fresh sandbox (a cold start), and one that finishes in time writes:
    // the check above would have seen the late write.
    const onTime = `on-time-${randomUUID()}`
    await expect(fn.invoke({ endpoint, tableName, id: onTime, waitMs: 0 })).resolves.toEqual({
      written: onTime,
    })
    expect(await written()).toContain(onTime)
    expect(fn.stats.coldStarts).toBe(2)
  })

  it('fails the batch of a timed-out consumer: the message comes back and its next delivery does the work', async () => {
    const sqs = await startLocalSqs({ visibilityTimeoutSeconds: 1, maxReceiveCount: 5 })
    const fn = await start(500)
    const source = startSqsEventSource({
      client: sqs.client,
      queueUrl: sqs.queueUrl,
      queueArn: sqs.queueArn,
      handler: fn.handler,
      functionName: 'LateWriter',
      timeoutMs: 500,
      log: () => {},
    })
    try {
      const id = `queued-${randomUUID()}`
      await sqs.client.send(
        new SendMessageCommand({
          QueueUrl: sqs.queueUrl,
          MessageBody: JSON.stringify({ endpoint, tableName, id, waitMs: 2_000 }),
        }),
      )
      await source.settled(60_000)
      // Let the first delivery's write come due, had its sandbox survived.
      await new Promise((resolve) => setTimeout(resolve, 2_000))

      const ids = (await written()).filter((item) => item?.startsWith(id))
      expect(ids).not.toContain(`${id}#1`)
      expect(ids).toEqual([`${id}#2`])
      expect(fn.stats.timeouts).toBe(1)
    } finally {
      await source.stop()
      await sqs.stop()
    }
  })
})

import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb'
import type { SQSEvent } from 'aws-lambda'
import { localClientConfig } from '../../infra/local/dynamodb-local.js'

/** The event of the late writer: waits `waitMs`, then writes item `id` to `tableName`. */
export interface LateWrite {
  endpoint: string
  tableName: string
  id: string
  waitMs: number
}

/**
 * A function for the local runner's timeout test: it writes only after waiting, so a runner that
 * really ends the invocation at its timeout never lets the write happen.
 */
export const handler = async (event: LateWrite | SQSEvent): Promise<unknown> => {
  if ('Records' in event) {
    // From a queue: each body is a LateWrite; the first delivery waits it out, later ones do not.
    for (const record of event.Records) {
      const write = JSON.parse(record.body) as LateWrite
      const receive = record.attributes.ApproximateReceiveCount
      await lateWrite({ ...write, id: `${write.id}#${receive}`, waitMs: receive === '1' ? write.waitMs : 0 })
    }
    return { batchItemFailures: [] }
  }
  return lateWrite(event)
}

const lateWrite = async (event: LateWrite): Promise<{ written: string }> => {
  await new Promise((resolve) => setTimeout(resolve, event.waitMs))
  const client = new DynamoDBClient(localClientConfig(event.endpoint))
  try {
    await client.send(new PutItemCommand({ TableName: event.tableName, Item: { id: { S: event.id } } }))
  } finally {
    client.destroy()
  }
  return { written: event.id }
}

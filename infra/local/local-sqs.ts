import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs'
import { buildApp } from 'fauxqs'

/** A running SQS-compatible server (fauxqs) on 127.0.0.1 with the sample's queue and its DLQ. */
export interface LocalSqs {
  endpoint: string
  queueUrl: string
  queueArn: string
  deadLetterQueueUrl: string
  /** A client for this server, with the fixed local credentials. */
  client: SQSClient
  stop(): Promise<void>
}

/** Options of {@link startLocalSqs}. */
export interface LocalSqsOptions {
  /** @default 'order-events' */
  queueName?: string
  /** Seconds a received message stays hidden before it is delivered again. @default 5 */
  visibilityTimeoutSeconds?: number
  /** Deliveries of one message before it moves to the dead-letter queue. @default 3 */
  maxReceiveCount?: number
}

/**
 * Local SQS client options: an endpoint, a region and fixed credentials, so the SDK never searches
 * the machine for real ones.
 *
 * @example
 * new SQSClient(localSqsClientConfig('http://127.0.0.1:4566'))
 */
export const localSqsClientConfig = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
})

/**
 * Starts fauxqs in this process on a free port of 127.0.0.1 (its own launcher listens on every
 * interface, hence `buildApp` and our own `listen`) and creates the queue with a redrive policy to
 * a dead-letter queue, as the stack does.
 *
 * @example
 * const sqs = await startLocalSqs({ visibilityTimeoutSeconds: 2 })
 * await sqs.stop()
 */
export const startLocalSqs = async (options: LocalSqsOptions = {}): Promise<LocalSqs> => {
  const app = buildApp({ logger: false, host: '127.0.0.1' })
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const endpoint = new URL(address).origin
  const client = new SQSClient(localSqsClientConfig(endpoint))
  try {
    const queueName = options.queueName ?? 'order-events'
    const deadLetters = await client.send(new CreateQueueCommand({ QueueName: `${queueName}-dlq` }))
    const deadLetterArn = await queueArn(client, deadLetters.QueueUrl)
    const queue = await client.send(
      new CreateQueueCommand({
        QueueName: queueName,
        Attributes: {
          VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 5),
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: deadLetterArn,
            maxReceiveCount: options.maxReceiveCount ?? 3,
          }),
        },
      }),
    )
    return {
      endpoint,
      queueUrl: queue.QueueUrl as string,
      queueArn: await queueArn(client, queue.QueueUrl),
      deadLetterQueueUrl: deadLetters.QueueUrl as string,
      client,
      stop: async () => {
        client.destroy()
        await app.close()
      },
    }
  } catch (error) {
    client.destroy()
    await app.close()
    throw error
  }
}

const queueArn = async (client: SQSClient, queueUrl: string | undefined): Promise<string> => {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  )
  const arn = Attributes?.QueueArn
  if (arn === undefined) throw new Error(`the local SQS server returned no ARN for ${queueUrl}`)
  return arn
}

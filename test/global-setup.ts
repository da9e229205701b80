import type { TestProject } from 'vitest/node'
import { startDynamoDBLocal } from '../infra/local/dynamodb-local.js'

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string
  }
}

/** One DynamoDB Local for the whole run, on 127.0.0.1, stopped when the run ends. */
export default async function setup(project: TestProject) {
  const dynamo = await startDynamoDBLocal()
  project.provide('dynamoEndpoint', dynamo.endpoint)
  return () => dynamo.stop()
}

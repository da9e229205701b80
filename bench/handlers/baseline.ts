// The bundle baseline: the same Lambda handler with Middy and a DynamoDB client, and no idempotency.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import middy from '@middy/core'
import { createPayment } from '../sides/payment.js'

export const client = new DynamoDBClient({})
export const handler = middy(createPayment)

// With aws-cdk-lib and constructs: the IdempotencyTable construct of lambda-idempotency/cdk.
import { App, Stack } from 'aws-cdk-lib'
import { IdempotencyTable } from 'lambda-idempotency/cdk'

const stack = new Stack(new App(), 'Payments')
const idempotency = new IdempotencyTable(stack, 'Idempotency')
console.log(JSON.stringify({ construct: idempotency.node.path }))

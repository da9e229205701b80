import { App, Validations } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'
import { PaymentsStack } from './payments-stack.js'

// Only the stack and its checks: `npm run synth` fails on any AwsSolutions finding that the stack
// does not acknowledge with a written reason.
const app = new App()
new PaymentsStack(app, 'LambdaIdempotencySample')
Validations.of(app).addPlugins(new AwsSolutionsChecks(app))

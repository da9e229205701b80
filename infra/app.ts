import { App, Validations } from 'aws-cdk-lib'
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag'
import { PaymentsStack } from './payments-stack.js'

// Only the stack and its checks: `npm run synth` fails on any AwsSolutions or Serverless finding
// that the stack does not acknowledge with a written reason. analyticsReporting: false keeps the
// CDK's metadata resource (library versions sent to AWS) out of the template.
const app = new App({ analyticsReporting: false })
const context = (name: string): string | undefined => {
  const value = app.node.tryGetContext(name) as unknown
  return typeof value === 'string' && value !== '' ? value : undefined
}
// `cdk deploy -c jwtIssuer=https://issuer.example.com -c jwtAudience=client-1,client-2`, or the
// same keys in cdk.json's context: the API then requires a JWT from that issuer.
new PaymentsStack(app, 'LambdaIdempotencySample', {
  jwtIssuer: context('jwtIssuer'),
  jwtAudience: context('jwtAudience')
    ?.split(',')
    .map((audience) => audience.trim()),
})
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app))

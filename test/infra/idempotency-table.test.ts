import { RemovalPolicy, Stack } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import type { CfnTable } from 'aws-cdk-lib/aws-dynamodb'
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam'
import { describe, expect, it } from 'vitest'
import { IdempotencyTable } from '../../src/cdk.js'
import { testApp } from './cdk-app.js'

const synth = (build: (stack: Stack) => void) => {
  const stack = new Stack(testApp(), 'Test')
  build(stack)
  return Template.fromStack(stack)
}

describe('IdempotencyTable', { timeout: 120_000 }, () => {
  it('has the key, TTL attribute, billing and backups that DynamoDBStore expects', () => {
    const template = synth((stack) => new IdempotencyTable(stack, 'Idempotency'))
    template.resourceCountIs('AWS::DynamoDB::Table', 1)
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    })
  })

  it('keeps the table when it leaves the stack unless told otherwise', () => {
    const kept = synth((stack) => new IdempotencyTable(stack, 'Idempotency'))
    kept.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' })

    const destroyed = synth(
      (stack) => new IdempotencyTable(stack, 'Idempotency', { removalPolicy: RemovalPolicy.DESTROY }),
    )
    destroyed.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' })
  })

  it('turns point-in-time recovery off only when asked', () => {
    const template = synth(
      (stack) => new IdempotencyTable(stack, 'Idempotency', { pointInTimeRecovery: false }),
    )
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false },
    })
  })

  it('grants exactly GetItem, PutItem, UpdateItem and DeleteItem on the table and nothing else', () => {
    const stack = new Stack(testApp(), 'Test')
    const table = new IdempotencyTable(stack, 'Idempotency')
    const role = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') })
    table.grantIdempotency(role)

    const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy')
    const statements = Object.values(policies).flatMap(
      (policy) =>
        policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
    )
    expect(statements).toHaveLength(1)
    expect([statements[0]?.Action].flat().sort()).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ])
    // The table's ARN only: no index, no stream, no wildcard.
    const tableId = stack.getLogicalId(table.table.node.defaultChild as CfnTable)
    expect(statements[0]?.Resource).toEqual({ 'Fn::GetAtt': [tableId, 'Arn'] })
  })
})

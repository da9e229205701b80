import { RemovalPolicy, Stack } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import {
  AttributeType,
  type CfnTable,
  MultiRegionConsistency,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb'
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam'
import { Key } from 'aws-cdk-lib/aws-kms'
import { describe, expect, it } from 'vitest'
import { grantIdempotency, IdempotencyTable } from '../../src/cdk.js'
import { testApp } from './cdk-app.js'

const synth = (build: (stack: Stack) => void, region?: string) => {
  const stack = new Stack(testApp(), 'Test', region === undefined ? {} : { env: { region } })
  build(stack)
  return Template.fromStack(stack)
}

type Statement = { Action: string | string[]; Resource: unknown; Effect: string }
const statementsOf = (template: Template): Statement[] =>
  Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (policy) => policy.Properties.PolicyDocument.Statement as Statement[],
  )
const ITEM_ACTIONS = ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']

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

  it('takes a partition key name and a sort key for a single-table-design table', () => {
    const template = synth(
      (stack) => new IdempotencyTable(stack, 'Idempotency', { partitionKey: 'pk', sortKey: 'sk' }),
    )
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
    })
  })

  it('grants the four item actions on any existing table, imported or defined, and on nothing else', () => {
    const stack = new Stack(testApp(), 'Test')
    const role = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') })
    const imported = Table.fromTableName(stack, 'Imported', 'app-table')
    grantIdempotency(imported, role)
    const statements = statementsOf(Template.fromStack(stack))
    expect(statements).toHaveLength(1)
    expect([statements[0]?.Action].flat().sort()).toEqual(ITEM_ACTIONS)
    expect(JSON.stringify(statements[0]?.Resource)).toContain(':table/app-table')
    expect(JSON.stringify(statements[0]?.Resource)).not.toContain('index')
  })

  it('grants on a table with indexes and a customer-managed key: the table ARN and the key, not the indexes', () => {
    const stack = new Stack(testApp(), 'Test')
    const role = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') })
    const key = new Key(stack, 'Key')
    const app = new Table(stack, 'App', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      encryptionKey: key,
      encryption: TableEncryption.CUSTOMER_MANAGED,
    })
    app.addGlobalSecondaryIndex({
      indexName: 'byEmail',
      partitionKey: { name: 'email', type: AttributeType.STRING },
    })
    grantIdempotency(app, role)
    const statements = statementsOf(Template.fromStack(stack))
    const dynamo = statements.filter((statement) => JSON.stringify(statement.Action).includes('dynamodb:'))
    expect(dynamo).toHaveLength(1)
    expect([dynamo[0]?.Action].flat().sort()).toEqual(ITEM_ACTIONS)
    const tableId = stack.getLogicalId(app.node.defaultChild as CfnTable)
    expect(dynamo[0]?.Resource).toEqual({ 'Fn::GetAtt': [tableId, 'Arn'] })
    const kms = statements.filter((statement) => JSON.stringify(statement.Action).includes('kms:'))
    expect(kms.flatMap((statement) => [statement.Action].flat())).toEqual(
      expect.arrayContaining(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*']),
    )
  })

  it('makes a strongly consistent global table by default, without TTL, which MRSC does not support', () => {
    const template = synth(
      (stack) =>
        new IdempotencyTable(stack, 'Idempotency', {
          sortKey: 'sk',
          globalTable: { replicaRegions: ['us-east-2', 'us-west-2'] },
        }),
      'us-east-1',
    )
    template.resourceCountIs('AWS::DynamoDB::Table', 0)
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      MultiRegionConsistency: 'STRONG',
      KeySchema: [
        { AttributeName: 'id', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    })
    const [table] = Object.values(template.findResources('AWS::DynamoDB::GlobalTable'))
    expect(table?.Properties.TimeToLiveSpecification).toBeUndefined()
    expect(table?.DeletionPolicy).toBe('Retain')
    const replicas = table?.Properties.Replicas as {
      Region: string
      PointInTimeRecoverySpecification?: unknown
    }[]
    expect(replicas.map((replica) => replica.Region).sort()).toEqual(['us-east-1', 'us-east-2', 'us-west-2'])
    for (const replica of replicas) {
      expect(replica.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true })
    }
  })

  it('takes two replicas and a witness, or eventual consistency with TTL when asked', () => {
    const witnessed = synth(
      (stack) =>
        new IdempotencyTable(stack, 'Idempotency', {
          globalTable: { replicaRegions: ['us-east-2'], witnessRegion: 'us-west-2' },
        }),
      'us-east-1',
    )
    witnessed.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      MultiRegionConsistency: 'STRONG',
      GlobalTableWitnesses: [{ Region: 'us-west-2' }],
    })

    const eventual = synth(
      (stack) =>
        new IdempotencyTable(stack, 'Idempotency', {
          globalTable: { replicaRegions: ['eu-west-1'], consistency: MultiRegionConsistency.EVENTUAL },
        }),
      'us-east-1',
    )
    eventual.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      MultiRegionConsistency: 'EVENTUAL',
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
    })
  })

  it('refuses a strongly consistent global table that MRSC cannot build (Regions of two sets)', () => {
    expect(() =>
      synth(
        (stack) =>
          new IdempotencyTable(stack, 'Idempotency', {
            globalTable: { replicaRegions: ['eu-west-1', 'us-west-2'] },
          }),
        'us-east-1',
      ),
    ).toThrow(/not in the same region set/)
  })

  it('grants on every replica of a global table, the four item actions only', () => {
    const stack = new Stack(testApp(), 'Test', { env: { region: 'us-east-1' } })
    const table = new IdempotencyTable(stack, 'Idempotency', {
      globalTable: { replicaRegions: ['us-east-2', 'us-west-2'] },
    })
    const role = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') })
    table.grantIdempotency(role)
    const statements = statementsOf(Template.fromStack(stack))
    expect(statements).toHaveLength(1)
    expect([statements[0]?.Action].flat().sort()).toEqual(ITEM_ACTIONS)
    const resources = JSON.stringify(statements[0]?.Resource)
    expect(resources).toContain('us-east-2')
    expect(resources).toContain('us-west-2')
    expect(resources).not.toContain('index')
  })

  it('leaves deletion protection off and the DynamoDB-owned key in place by default', () => {
    const template = synth((stack) => new IdempotencyTable(stack, 'Idempotency'))
    const [table] = Object.values(template.findResources('AWS::DynamoDB::Table'))
    expect(table?.Properties.DeletionProtectionEnabled).toBeFalsy()
    expect(table?.Properties.SSESpecification).toBeUndefined()
  })

  it('turns on deletion protection when asked, for a table and a global table', () => {
    synth(
      (stack) => new IdempotencyTable(stack, 'Idempotency', { deletionProtection: true }),
    ).hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true })
    const global = synth(
      (stack) =>
        new IdempotencyTable(stack, 'Idempotency', {
          deletionProtection: true,
          globalTable: { replicaRegions: ['us-east-2', 'us-west-2'] },
        }),
      'us-east-1',
    )
    const [table] = Object.values(global.findResources('AWS::DynamoDB::GlobalTable'))
    const replicas = table?.Properties.Replicas as { Region: string; DeletionProtectionEnabled?: boolean }[]
    expect(replicas.map((replica) => replica.Region).sort()).toEqual(['us-east-1', 'us-east-2', 'us-west-2'])
    for (const replica of replicas) expect(replica.DeletionProtectionEnabled).toBe(true)
  })

  it('encrypts with a customer-managed key and grants encrypt / decrypt on it with the item actions', () => {
    const stack = new Stack(testApp(), 'Test')
    const key = new Key(stack, 'Key', { enableKeyRotation: true })
    const table = new IdempotencyTable(stack, 'Idempotency', { encryptionKey: key })
    const role = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') })
    table.grantIdempotency(role)
    const template = Template.fromStack(stack)
    const keyId = stack.getLogicalId(key.node.defaultChild as never)
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: {
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
      },
    })
    const statements = statementsOf(template)
    const onKey = statements.filter(
      (statement) => JSON.stringify(statement.Resource) === JSON.stringify({ 'Fn::GetAtt': [keyId, 'Arn'] }),
    )
    expect(onKey.flatMap((statement) => [statement.Action].flat())).toEqual(
      expect.arrayContaining(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*']),
    )
    const onTable = statements.filter((statement) => !onKey.includes(statement))
    expect(onTable.flatMap((statement) => [statement.Action].flat()).sort()).toEqual(ITEM_ACTIONS)
  })

  it('refuses a customer-managed key on a global table without a key for each replica, naming the Regions', () => {
    expect(() =>
      synth((stack) => {
        const key = new Key(stack, 'Key')
        new IdempotencyTable(stack, 'Idempotency', {
          encryptionKey: key,
          globalTable: { replicaRegions: ['us-east-2', 'us-west-2'] },
          replicaKeyArns: { 'us-east-2': 'arn:aws:kms:us-east-2:111111111111:key/one' },
        })
      }, 'us-east-1'),
    ).toThrow(/replicaKeyArns.*missing: us-west-2/)
  })
})

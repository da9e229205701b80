import { RemovalPolicy } from 'aws-cdk-lib'
import {
  AttributeType,
  BillingMode,
  type ITable,
  type MultiRegionConsistency,
  Table,
  TableEncryption,
  TableEncryptionV2,
  TableGrants,
  TableV2,
} from 'aws-cdk-lib/aws-dynamodb'
import type { Grant, IGrantable } from 'aws-cdk-lib/aws-iam'
import type { IKey } from 'aws-cdk-lib/aws-kms'
import { Construct } from 'constructs'
import { IdempotencyConfigError } from '../errors.js'

/**
 * The actions `DynamoDBStore` sends, and so the only ones {@link IdempotencyTable.grantIdempotency}
 * grants. For a table you define yourself.
 *
 * @example
 * myTable.grants.actions(handler, ...IDEMPOTENCY_TABLE_ACTIONS)
 */
export const IDEMPOTENCY_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
] as const

/**
 * Lets `grantable` use any table through `DynamoDBStore`, such as the one table of a single-table
 * design: `dynamodb:GetItem`, `PutItem`, `UpdateItem` and `DeleteItem` on the table's ARN only (no
 * index, no stream, no scan or query), and encrypt / decrypt on its customer-managed key if it has
 * one.
 *
 * @example
 * const app = Table.fromTableName(this, 'App', 'app-table')
 * grantIdempotency(app, paymentFunction)
 */
export const grantIdempotency = (table: ITable, grantable: IGrantable): Grant => {
  // Records are written and read: a customer-managed key must both encrypt and decrypt.
  table.encryptionKey?.grantEncryptDecrypt(grantable)
  // hasIndex false: the store never reads an index, so index ARNs stay out of the policy.
  return new TableGrants({ table, hasIndex: false }).actions(grantable, ...IDEMPOTENCY_TABLE_ACTIONS)
}

// The enum's values, spelled out: importing the enum itself would fail to load on an aws-cdk-lib
// that predates it, for every user of this module, global table or not.
const STRONG = 'STRONG' as MultiRegionConsistency

/** A global table: replicas in other Regions, and how writes in two Regions agree. */
export interface IdempotencyGlobalTableProps {
  /** The Regions of the other replicas (the stack's own Region holds the first). */
  replicaRegions: string[]
  /**
   * `STRONG` (multi-Region strong consistency): a claim is a conditional write that all Regions
   * agree on, so the same key arriving in two Regions runs once; MRSC needs exactly three
   * replicas, or two and a `witnessRegion`, within one Region set, and has no TTL (the store
   * treats expired records as free all the same, but nothing deletes them). `EVENTUAL`: each
   * Region claims on its own replica and replication settles conflicts by last writer wins, so
   * the same key arriving in two Regions within the replication delay (about a second) can run
   * twice; route each key to one Region if you choose it.
   * @default MultiRegionConsistency.STRONG
   */
  consistency?: MultiRegionConsistency
  /** With `STRONG` and two replicas: the Region of the witness. @default none */
  witnessRegion?: string
}

/** Properties of {@link IdempotencyTable}. */
export interface IdempotencyTableProps {
  /**
   * What happens to the table when it leaves the stack. Records live for `ttlSeconds` (24 hours by
   * default) and hold claims of work in flight: a table deleted and created anew forgets them, and
   * a retry that arrives then runs its work a second time. Use `DESTROY` for samples and test stacks.
   * @default RemovalPolicy.RETAIN
   */
  removalPolicy?: RemovalPolicy
  /**
   * Point-in-time recovery (continuous backups for 35 days).
   * @default true
   */
  pointInTimeRecovery?: boolean
  /**
   * A physical table name. Leave it to CloudFormation unless another system needs a fixed name:
   * a fixed name blocks replacements of the table.
   * @default a name CloudFormation generates
   */
  tableName?: string
  /**
   * The partition key's name: `DynamoDBStore`'s `attributeNames.id`.
   * @default 'id'
   */
  partitionKey?: string
  /**
   * A sort key (String), for a table shaped like a single-table design: `DynamoDBStore`'s
   * `attributeNames.sortKey`, which then holds the record id while the partition key holds the
   * store's `partitionValue`.
   * @default none
   * @example
   * new IdempotencyTable(this, 'Idempotency', { partitionKey: 'pk', sortKey: 'sk' })
   */
  sortKey?: string
  /**
   * Makes the table a global table (`AWS::DynamoDB::GlobalTable`), strongly consistent across
   * Regions unless told otherwise. The stack needs an explicit Region.
   * @default a table in the stack's Region only
   * @example
   * new IdempotencyTable(this, 'Idempotency', { globalTable: { replicaRegions: ['us-east-2', 'us-west-2'] } })
   */
  globalTable?: IdempotencyGlobalTableProps
  /**
   * Deletion protection: DynamoDB refuses to delete the table (from the console, the API or a
   * stack update that replaces or removes it) until it is turned off. Turn it on in production,
   * where a deleted table forgets every claim and retries run their work again.
   * @default false
   * @example
   * new IdempotencyTable(this, 'Idempotency', { deletionProtection: true })
   */
  deletionProtection?: boolean
  /**
   * A customer-managed KMS key to encrypt the table with; {@link IdempotencyTable.grantIdempotency}
   * then also grants encrypt / decrypt on it. With `globalTable`, pass `replicaKeyArns` too.
   * @default none: the table is encrypted with a key DynamoDB owns (no charge, no key policy to manage)
   * @example
   * new IdempotencyTable(this, 'Idempotency', { encryptionKey: new Key(this, 'IdempotencyKey', { enableKeyRotation: true }) })
   */
  encryptionKey?: IKey
  /**
   * With `globalTable` and `encryptionKey`: the key ARN of each replica Region, as DynamoDB
   * needs one key per Region.
   * @default none (required then)
   */
  replicaKeyArns?: Record<string, string>
}

/**
 * The DynamoDB table that `DynamoDBStore` expects: partition key `id` (String), TTL on
 * `expiration`, on-demand billing, point-in-time recovery. Pass its `tableName` to the function and
 * call {@link IdempotencyTable.grantIdempotency} to give the function exactly what the store uses.
 *
 * @example
 * import { IdempotencyTable } from 'lambda-idempotency/cdk'
 *
 * const idempotency = new IdempotencyTable(this, 'Idempotency', { removalPolicy: RemovalPolicy.RETAIN })
 * idempotency.grantIdempotency(paymentFunction)
 * paymentFunction.addEnvironment('IDEMPOTENCY_TABLE', idempotency.tableName)
 */
export class IdempotencyTable extends Construct {
  /**
   * The underlying table, for alarms, metrics or anything this construct does not set: a
   * `TableV2` when `globalTable` is set, a `Table` otherwise.
   */
  readonly table: Table | TableV2
  /** The table's physical name. */
  readonly tableName: string
  /** The table's ARN. */
  readonly tableArn: string
  /** The customer-managed key the table is encrypted with, when one was given. */
  readonly encryptionKey: IKey | undefined

  constructor(scope: Construct, id: string, props: IdempotencyTableProps = {}) {
    super(scope, id)
    const partitionKey = { name: props.partitionKey ?? 'id', type: AttributeType.STRING }
    const sortKey =
      props.sortKey === undefined ? undefined : { name: props.sortKey, type: AttributeType.STRING }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN
    const pointInTimeRecoverySpecification = { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true }
    const global = props.globalTable
    const deletionProtection = props.deletionProtection ?? false
    const encryptionKey = props.encryptionKey
    if (global === undefined) {
      this.table = new Table(this, 'Table', {
        partitionKey,
        sortKey,
        // DynamoDB deletes expired records up to 48 hours late; the store treats them as absent anyway.
        timeToLiveAttribute: 'expiration',
        billingMode: BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification,
        removalPolicy,
        tableName: props.tableName,
        deletionProtection,
        ...(encryptionKey === undefined
          ? {}
          : { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey }),
      })
    } else {
      const missing = global.replicaRegions.filter((region) => props.replicaKeyArns?.[region] === undefined)
      if (encryptionKey !== undefined && missing.length > 0) {
        throw new IdempotencyConfigError(
          'replicaKeyArns',
          `a KMS key ARN for each replica Region with encryptionKey and globalTable (missing: ${missing.join(', ')})`,
          props.replicaKeyArns,
        )
      }
      const consistency = global.consistency ?? STRONG
      this.table = new TableV2(this, 'Table', {
        partitionKey,
        sortKey,
        // MRSC tables do not support TTL: the store's conditions treat expired records as free.
        timeToLiveAttribute: consistency === STRONG ? undefined : 'expiration',
        multiRegionConsistency: consistency,
        witnessRegion: global.witnessRegion,
        replicas: global.replicaRegions.map((region) => ({ region })),
        pointInTimeRecoverySpecification,
        removalPolicy,
        tableName: props.tableName,
        deletionProtection,
        ...(encryptionKey === undefined
          ? {}
          : { encryption: TableEncryptionV2.customerManagedKey(encryptionKey, props.replicaKeyArns) }),
      })
    }
    this.encryptionKey = encryptionKey
    this.tableName = this.table.tableName
    this.tableArn = this.table.tableArn
  }

  /**
   * Lets `grantable` use the table through `DynamoDBStore`: `dynamodb:GetItem`, `PutItem`,
   * `UpdateItem` and `DeleteItem` on this table (and its replicas, for a global table), encrypt /
   * decrypt on its `encryptionKey` if it has one, and nothing else (no scans, no queries, no other
   * table).
   *
   * @example
   * idempotency.grantIdempotency(paymentFunction)
   */
  grantIdempotency(grantable: IGrantable): Grant {
    // Records are written and read: a customer-managed key must both encrypt and decrypt.
    this.encryptionKey?.grantEncryptDecrypt(grantable)
    return this.table.grants.actions(grantable, ...IDEMPOTENCY_TABLE_ACTIONS)
  }
}

import { RemovalPolicy } from 'aws-cdk-lib'
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb'
import type { Grant, IGrantable } from 'aws-cdk-lib/aws-iam'
import { Construct } from 'constructs'

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
  /** The underlying table, for alarms, metrics or anything this construct does not set. */
  readonly table: Table
  /** The table's physical name. */
  readonly tableName: string
  /** The table's ARN. */
  readonly tableArn: string

  constructor(scope: Construct, id: string, props: IdempotencyTableProps = {}) {
    super(scope, id)
    this.table = new Table(this, 'Table', {
      partitionKey: { name: 'id', type: AttributeType.STRING },
      // DynamoDB deletes expired records up to 48 hours late; the store treats them as absent anyway.
      timeToLiveAttribute: 'expiration',
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      tableName: props.tableName,
    })
    this.tableName = this.table.tableName
    this.tableArn = this.table.tableArn
  }

  /**
   * Lets `grantable` use the table through `DynamoDBStore`: `dynamodb:GetItem`, `PutItem`,
   * `UpdateItem` and `DeleteItem` on this table, and nothing else (no scans, no queries, no other
   * table).
   *
   * @example
   * idempotency.grantIdempotency(paymentFunction)
   */
  grantIdempotency(grantable: IGrantable): Grant {
    return this.table.grants.actions(grantable, ...IDEMPOTENCY_TABLE_ACTIONS)
  }
}

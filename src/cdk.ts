/**
 * CDK constructs for lambda-idempotency, imported from `lambda-idempotency/cdk`. Needs the optional
 * peer dependencies `aws-cdk-lib` and `constructs`.
 *
 * @example
 * import { IdempotencyTable } from 'lambda-idempotency/cdk'
 *
 * new IdempotencyTable(this, 'Idempotency').grantIdempotency(handler)
 */
export {
  grantIdempotency,
  IDEMPOTENCY_TABLE_ACTIONS,
  type IdempotencyGlobalTableProps,
  IdempotencyTable,
  type IdempotencyTableProps,
} from './cdk/idempotency-table.js'

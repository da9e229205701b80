/**
 * The Redis store, on its own entry point (`lambda-idempotency/redis`) so that the main entry
 * never loads Redis code or types. Needs the optional peer dependency `redis` (node-redis).
 *
 * @example
 * import { RedisStore } from 'lambda-idempotency/redis'
 */
export { RedisStore, type RedisStoreClient, type RedisStoreOptions } from './stores/redis-store.js'

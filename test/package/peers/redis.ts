// With redis: RedisStore from lambda-idempotency/redis on a node-redis client (not connected here).
import { RedisStore } from 'lambda-idempotency/redis'
import { createClient } from 'redis'

export const store = new RedisStore({ client: createClient({ url: 'redis://127.0.0.1:6379' }) })
console.log(JSON.stringify({ store: store.constructor.name }))

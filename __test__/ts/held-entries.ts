// Compiled by tsc (target ES2022: `using` is down-levelled) and run by
// __test__/hold-types.test.js. The type lines are checked by the compile: a
// wrong type in index.d.ts fails it.
import { HandleMap, type HeldEntry } from 'handle-ledger'
import { strict as assert } from 'node:assert'

interface Call { id: number, url: string }

const map = new HandleMap<number, Call>({ name: 'ts-held-entries' })
const call: Call = { id: 1, url: '/a' }

function handleOneCall (): void {
  using entry = map.acquire(1, call)
  const key: number = entry.key
  assert.equal(key, 1)
  assert.equal(map.get(1), call, 'live inside the block')
}
handleOneCall()
assert.equal(map.has(1), false, 'disposed at the end of the block')

try {
  using entry = map.acquire(2, call)
  assert.equal(map.has(entry.key), true)
  throw new Error('the call failed')
} catch (error) {
  assert.equal((error as Error).message, 'the call failed')
}
assert.equal(map.has(2), false, 'disposed when the block throws')

{
  using entry: HeldEntry<number> = map.acquire(3, call)
  assert.equal(entry.release(), true)
  assert.equal(entry.release(), false)
} // disposing a released handle does nothing
assert.equal(map.size, 0)

const id: number = map.hold(4, call, (held) => held.id)
const url: Promise<string> = map.hold(5, call, async (held) => held.url)
const aborted: Promise<number> = map.hold(6, call, (held) => held.id, { signal: AbortSignal.abort(new Error('stop')) })
// Never called: only the compile checks these lines.
function typeErrors (): void {
  // @ts-expect-error fn takes the map's value type
  map.hold(7, call, (held: string) => held)
  // @ts-expect-error keys are numbers
  map.acquire('8', call)
  // @ts-expect-error release() answers whether it removed the entry
  const nothing: void = map.acquire(8, call).release()
  const maybeSignal: AbortSignal | undefined = Math.random() > 2 ? undefined : new AbortController().signal
  // @ts-expect-error with a signal that may be there, the result may be a promise
  const notSure: number = map.hold(9, call, (held) => held.id, { signal: maybeSignal })
  const eitherWay: number | Promise<number> = map.hold(9, call, (held) => held.id, { signal: maybeSignal })
  const noSignal: number = map.hold(9, call, (held) => held.id, {})
}

async function main (): Promise<void> {
  assert.equal(typeof typeErrors, 'function')
  assert.equal(id, 1)
  assert.equal(await url, '/a')
  await assert.rejects(aborted, { message: 'stop' })
  await (async () => {
    await using entry = map.acquire(9, call)
    assert.equal(map.has(entry.key), true)
  })()
  assert.equal(map.size, 0)
  assert.equal(map.report().inserts, 6)
  map.close()
  console.log('held entries: ok')
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})

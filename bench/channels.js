'use strict'
// What the diagnostics channels cost: the set + get + delete cycle with no
// subscriber and with one on every handle-ledger channel (the channels are
// not on that path, so the two should differ by noise only), and the expiry
// hand-over per expired entry without and with a subscriber (where a
// message is built only when someone listens).
//
//   node bench/channels.js [--quick]   (also part of npm run bench)

const diagnosticsChannel = require('node:diagnostics_channel')
const { HandleMap } = require('..')
const { loopFor, median } = require('./cycle.js')

const CHANNELS = ['handle-ledger:expire', 'handle-ledger:suspect']

function withSubscribers (subscribed, body) {
  let received = 0
  const onMessage = () => { received++ }
  if (subscribed) for (const name of CHANNELS) diagnosticsChannel.subscribe(name, onMessage)
  try {
    return { result: body(), received }
  } finally {
    if (subscribed) for (const name of CHANNELS) diagnosticsChannel.unsubscribe(name, onMessage)
  }
}

// Each round starts with a different kind, so whatever favours the first
// (or last) run of a round falls on every kind alike.
function rotated (kinds, round) {
  const at = round % kinds.length
  return [...kinds.slice(at), ...kinds.slice(0, at)]
}

/**
 * ns per cycle of HandleMap 'off' (ttl), median of interleaved rounds: no
 * subscriber, no subscriber again (a second copy of the same loop: the
 * noise between identical runs), and a subscriber on every channel.
 */
function cycleCost ({ cycles, rounds, live }) {
  const make = () => new HandleMap({ callSites: 'off', ttl: 30_000 })
  const kinds = ['none', 'noneAgain', 'subscribed']
  const loops = Object.fromEntries(kinds.map(kind => [kind, loopFor(`channels: ${kind}`)]))
  const samples = Object.fromEntries(kinds.map(kind => [kind, []]))
  for (const kind of kinds) loops[kind](make, cycles / 10, live) // warm up
  for (let round = 0; round < rounds; round++) {
    for (const kind of rotated(kinds, round)) {
      samples[kind].push(withSubscribers(kind === 'subscribed', () => loops[kind](make, cycles, live)).result.ns)
    }
  }
  return Object.fromEntries(kinds.map(kind => [kind, median(samples[kind])]))
}

/** ns per expired entry (drain, wheel, JS hand-over), without and with a subscriber. */
function expiryCost ({ entries, rounds }) {
  const runs = { none: [], subscribed: [] }
  for (let round = 0; round < rounds; round++) {
    for (const kind of rotated(Object.keys(runs), round)) {
      let now = 0
      const map = new HandleMap({ callSites: 'off', ttl: 1000, clock: () => now, strict: false })
      for (let i = 0; i < entries; i++) map.set(i, i)
      map.purgeExpired()
      now = 2000
      const { result: ns, received } = withSubscribers(kind === 'subscribed', () => {
        const start = process.hrtime.bigint()
        const expired = map.purgeExpired()
        if (expired !== entries) throw new Error(`expected ${entries} expired, got ${expired}`)
        return Number(process.hrtime.bigint() - start) / entries
      })
      if (received !== (kind === 'subscribed' ? entries : 0)) throw new Error(`${kind}: ${received} messages for ${entries} entries`)
      map.close()
      runs[kind].push(ns)
    }
  }
  return { none: median(runs.none), subscribed: median(runs.subscribed) }
}

function measureChannels (quick) {
  return {
    cycle: cycleCost({ cycles: quick ? 100_000 : 300_000, rounds: quick ? 5 : 9, live: 10_000 }),
    expiry: expiryCost({ entries: quick ? 20_000 : 100_000, rounds: quick ? 3 : 7 })
  }
}

function renderChannels ({ cycle, expiry }) {
  return [
    '## diagnostics_channel',
    '',
    '| | no subscriber | no subscriber, same loop again (noise) | a subscriber on every handle-ledger channel | subscribed / unsubscribed |',
    '| --- | ---: | ---: | ---: | ---: |',
    `| set + get + delete cycle, HandleMap 'off' (ttl), ns | ${cycle.none.toFixed(0)} | ${cycle.noneAgain.toFixed(0)} (${(cycle.noneAgain / cycle.none).toFixed(2)}x) | ${cycle.subscribed.toFixed(0)} | ${(cycle.subscribed / cycle.none).toFixed(2)}x |`,
    `| expiry hand-over, ns per expired entry | ${expiry.none.toFixed(0)} | | ${expiry.subscribed.toFixed(0)} | ${(expiry.subscribed / expiry.none).toFixed(2)}x |`,
    '',
    'No channel is on the set/get/delete path (no line of it reads a channel), so subscribing cannot change the cycle: its difference is of the size of the noise between two identical runs (third column). Unsubscribed, an expiry batch pays one `hasSubscribers` read; subscribed, each expired entry builds and publishes one message.'
  ].join('\n')
}

module.exports = { measureChannels, renderChannels }

if (require.main === module) console.log(renderChannels(measureChannels(process.argv.includes('--quick'))))

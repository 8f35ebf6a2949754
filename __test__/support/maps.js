'use strict'
// newMap(options): a HandleMap that is closed when the test file ends, so a
// file's maps never leak into the registry reports of the next test.
const { after } = require('node:test')
const { HandleMap } = require('../..')

const maps = []
after(() => { for (const map of maps) map.close() })

function newMap (options) {
  const map = new HandleMap(options)
  maps.push(map)
  return map
}

module.exports = { newMap }

'use strict'
// What the rest of the package (live-maps, the registry, tests) may reach of
// a map's private state. HandleMap's static block fills this object when the
// class is defined, before any map exists; users cannot reach it (index.js
// does not export it). A module of its own so that live-maps.js needs nothing
// from the class file.

const internals = {}

module.exports = { internals }

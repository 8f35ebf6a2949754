'use strict'
// A validator for the subset of JSON Schema (2020-12) that report.schema.json
// uses, so the package checks its saved reports with no runtime dependency
// (the tests cross-check it against ajv). Supported: type (incl. "integer"),
// enum, const, properties, required, additionalProperties, items, minimum,
// maximum, minLength, maxLength, pattern, anyOf, if/then/else and local $ref
// ("#/$defs/name"); description, title, $schema, $id and $comment are notes.
// A schema using any other keyword is refused when it is compiled, so the
// subset cannot silently stop checking something.
//
// validate() returns the first problem, or null: one problem makes one clear
// line (a wrong type is a TypeError, a value out of range a RangeError).
// Property names come from the document and are shown JSON-quoted, so a
// hostile key cannot put control characters into the message.

const KEYWORDS = new Set(['type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'items',
  'minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'anyOf', 'if', 'then', 'else', '$ref', '$defs',
  'description', 'title', '$schema', '$id', '$comment'])

const TYPE_NAMES = { integer: 'an integer', number: 'a number', string: 'a string', boolean: 'a boolean', null: 'null', object: 'an object', array: 'an array' }

function typeOf (value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

function hasType (value, type) {
  switch (type) {
    case 'integer': return Number.isInteger(value)
    case 'number': return typeof value === 'number' && Number.isFinite(value)
    case 'object': return typeOf(value) === 'object'
    default: return typeOf(value) === type
  }
}

/** How a value is named in a message: a number as itself, anything else by its type (never its text). */
function shown (value) {
  if (typeof value === 'number') return String(value)
  const type = typeOf(value)
  return TYPE_NAMES[type] || `a ${type}`
}

// maps[0].sites[1]; a key that is not an identifier JSON-quoted (escapes and all).
function childPath (path, key) {
  if (typeof key === 'number') return `${path}[${key}]`
  if (!/^[A-Za-z_$][\w$]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`
  return path === '' ? key : `${path}.${key}`
}

function problem (path, Kind, text, expected) {
  return { path, Kind, message: `${path === '' ? 'the document' : path} ${text}`, expected }
}

/** Every subschema of `schema` checked for keywords outside the subset; `refs` resolved. */
function compile (root) {
  const refs = new Map()
  for (const [name, schema] of Object.entries(root.$defs || {})) refs.set(`#/$defs/${name}`, schema)
  const visit = (schema, where) => {
    if (typeof schema === 'boolean') return
    if (schema === null || typeof schema !== 'object') throw new TypeError(`${where}: a schema must be an object`)
    for (const keyword of Object.keys(schema)) {
      if (!KEYWORDS.has(keyword)) throw new TypeError(`${where}: the keyword '${keyword}' is outside the JSON Schema subset lib/shared/json-schema.js supports`)
    }
    if (schema.$ref !== undefined && !refs.has(schema.$ref)) throw new TypeError(`${where}: $ref ${schema.$ref} is not a local #/$defs/ reference`)
    if (schema.pattern !== undefined) new RegExp(schema.pattern, 'u') // eslint-disable-line no-new -- a bad pattern fails here, not on a document
    for (const [name, sub] of Object.entries(schema.properties || {})) visit(sub, `${where}.properties.${name}`)
    for (const [name, sub] of Object.entries(schema.$defs || {})) visit(sub, `${where}.$defs.${name}`)
    for (const keyword of ['items', 'additionalProperties', 'if', 'then', 'else']) {
      if (schema[keyword] !== undefined) visit(schema[keyword], `${where}.${keyword}`)
    }
    for (const [i, sub] of (schema.anyOf || []).entries()) visit(sub, `${where}.anyOf[${i}]`)
  }
  visit(root, '#')
  const patterns = new Map()
  return {
    root,
    ref: name => refs.get(name),
    pattern: source => {
      if (!patterns.has(source)) patterns.set(source, new RegExp(source, 'u'))
      return patterns.get(source)
    }
  }
}

function checkType (schema, value, path) {
  if (schema.type === undefined) return null
  const types = Array.isArray(schema.type) ? schema.type : [schema.type]
  if (types.some(type => hasType(value, type))) return null
  const expected = types.map(type => TYPE_NAMES[type])
  return problem(path, TypeError, `must be ${expected.join(' or ')}, got ${shown(value)}`, expected)
}

function checkRange (schema, value, path, compiled) {
  if (schema.const !== undefined && value !== schema.const) return problem(path, RangeError, `must be ${JSON.stringify(schema.const)}`)
  if (schema.enum !== undefined && !schema.enum.includes(value)) return problem(path, RangeError, `must be one of ${schema.enum.map(v => JSON.stringify(v)).join(', ')}`)
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) return problem(path, RangeError, `must be >= ${schema.minimum}, got ${value}`)
    if (schema.maximum !== undefined && value > schema.maximum) return problem(path, RangeError, `must be <= ${schema.maximum}, got ${value}`)
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) return problem(path, RangeError, `must have at least ${schema.minLength} characters`)
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return problem(path, RangeError, `must have at most ${schema.maxLength} characters`)
    if (schema.pattern !== undefined && !compiled.pattern(schema.pattern).test(value)) return problem(path, RangeError, `has characters outside /${schema.pattern}/`)
  }
  return null
}

function checkObject (schema, value, path, compiled) {
  const properties = schema.properties || {}
  // In the schema's order, so the fields a reader checks first (kind,
  // schemaVersion) are reported before what a newer version changed.
  for (const [name, sub] of Object.entries(properties)) {
    if (!Object.hasOwn(value, name)) continue
    const found = check(sub, value[name], childPath(path, name), compiled)
    if (found) return found
  }
  for (const name of schema.required || []) {
    if (!Object.hasOwn(value, name)) return problem(path, TypeError, `has no '${name}'`)
  }
  if (schema.additionalProperties === undefined || schema.additionalProperties === true) return null
  for (const name of Object.keys(value)) {
    if (Object.hasOwn(properties, name)) continue
    if (schema.additionalProperties === false) return problem(path, TypeError, `has an unknown field ${JSON.stringify(name)}`)
    const found = check(schema.additionalProperties, value[name], childPath(path, name), compiled)
    if (found) return found
  }
  return null
}

function check (schema, value, path, compiled) {
  if (schema === true) return null
  if (schema === false) return problem(path, TypeError, 'must not be there')
  if (schema.$ref !== undefined) {
    const found = check(compiled.ref(schema.$ref), value, path, compiled)
    if (found) return found
  }
  if (schema.anyOf !== undefined) {
    const problems = schema.anyOf.map(sub => check(sub, value, path, compiled))
    if (problems.every(Boolean)) return closest(problems, value, path)
  }
  const wrongType = checkType(schema, value, path)
  if (wrongType) return wrongType
  const outOfRange = checkRange(schema, value, path, compiled)
  if (outOfRange) return outOfRange
  if (hasType(value, 'object')) {
    const found = checkObject(schema, value, path, compiled)
    if (found) return found
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    for (let i = 0; i < value.length; i++) {
      const found = check(schema.items, value[i], childPath(path, i), compiled)
      if (found) return found
    }
  }
  if (schema.if !== undefined) {
    const branch = check(schema.if, value, path, compiled) === null ? schema.then : schema.else
    if (branch !== undefined) return check(branch, value, path, compiled)
  }
  return null
}

// Alternatives that all failed: when none matched the value's type, every
// type they take ("an object or null"); else the one that got furthest into
// the value (a lifetime with a bad count, rather than "must be null").
function closest (problems, value, path) {
  if (problems.every(found => found.path === path && found.expected)) {
    return problem(path, TypeError, `must be ${problems.flatMap(found => found.expected).join(' or ')}, got ${shown(value)}`, problems.flatMap(found => found.expected))
  }
  return problems.reduce((best, next) => next.path.length > best.path.length ? next : best)
}

/**
 * `validate(value)` against `schema` (or against `schema.$defs[def]`):
 * `{ path, message, Kind }` of the first problem, or null.
 */
function validator (schema) {
  const compiled = compile(schema)
  return (value, def) => {
    const target = def === undefined ? schema : compiled.ref(`#/$defs/${def}`)
    if (target === undefined) throw new RangeError(`the schema has no $defs.${def}`)
    return check(target, value, '', compiled)
  }
}

module.exports = { validator }

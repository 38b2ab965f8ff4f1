// What the WeChat client gives a page, for pages rendered by miniprogram-simulate under node:
// a DOM (jsdom), and a `wx` whose wx.request is real HTTP (node's fetch) to a running memberhub
// and whose wx.login codes come from memberhub's sandbox, as WeChat's would from WeChat.
//
// MEMBERHUB_URL names the server (with the sandbox on); MEMBERHUB_APPID the mini-program.
const path = require('node:path')
const { JSDOM } = require('jsdom')

const dom = new JSDOM('<!doctype html><html><head></head><body></body></html>')
global.window = dom.window
global.document = dom.window.document
// j-component dispatches the DOM's own events: jsdom's classes, not node's look-alikes.
for (const name of ['Node', 'Element', 'HTMLElement', 'Event', 'CustomEvent', 'TouchEvent',
  'MutationObserver', 'getComputedStyle']) {
  global[name] = dom.window[name]
}

const simulate = require('miniprogram-simulate')

const ROOT = path.resolve(__dirname, '..', 'miniprogram')
const BASE_URL = (process.env.MEMBERHUB_URL || '').replace(/\/$/, '')
if (!BASE_URL) throw new Error('MEMBERHUB_URL must name a running memberhub (with its sandbox)')
const APPID = process.env.MEMBERHUB_APPID || 'wxdeadbeef00000001'

// The pages read their settings from config.js: point them at this server; wx.login is used
// (below), not the development switch.
const config = require(path.join(ROOT, 'config.js'))
config.apiBase = BASE_URL
config.appid = APPID
config.sandboxCodes = false

const storage = new Map()
const shim = {
  // The WeChat user on this phone: the sandbox hands wx.login codes for them.
  user: { openid: `oPageTest${Date.now().toString(36)}`, unionid: undefined },
  navigations: [],
  toasts: [],
  payments: [],
  storage,
}

async function sandbox(route, body) {
  const answer = await fetch(`${BASE_URL}/sandbox/wechat${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (!answer.ok) throw new Error(`sandbox ${route}: ${answer.status} ${await answer.text()}`)
  return answer.json()
}

/** The code getPhoneNumber's event carries when the user agrees to share this phone. */
shim.phoneCode = async (phone) => (await sandbox('/phone-codes', { appid: APPID, phone })).code

function withQuery(url, data) {
  if (!data || typeof data !== 'object' || !Object.keys(data).length) return url
  const query = new URLSearchParams(data).toString()
  return `${url}${url.includes('?') ? '&' : '?'}${query}`
}

global.wx = {
  request({ url, method = 'GET', data, header = {}, success, fail, complete }) {
    const get = method.toUpperCase() === 'GET'
    fetch(get ? withQuery(url, data) : url, {
      method,
      headers: header,
      body: get || data === undefined ? undefined : JSON.stringify(data),
    })
      .then(async (response) => {
        const text = await response.text()
        let parsed = text
        try {
          parsed = JSON.parse(text)
        } catch (error) {
          // not JSON: handed over as text, as wx.request does
        }
        const headers = Object.fromEntries(response.headers.entries())
        if (success) success({ statusCode: response.status, data: parsed, header: headers })
      })
      .catch((error) => fail && fail({ errMsg: `request:fail ${error.message}` }))
      .finally(() => complete && complete())
  },
  login({ success, fail, complete } = {}) {
    sandbox('/login-codes', { appid: APPID, openid: shim.user.openid, unionid: shim.user.unionid })
      .then((answer) => success && success({ code: answer.code, errMsg: 'login:ok' }))
      .catch((error) => fail && fail({ errMsg: `login:fail ${error.message}` }))
      .finally(() => complete && complete())
  },
  getAccountInfoSync: () => ({ miniProgram: { appId: APPID, envVersion: 'develop' } }),
  getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ''),
  setStorageSync: (key, value) => { storage.set(key, value) },
  removeStorageSync: (key) => { storage.delete(key) },
  reLaunch: ({ url }) => { shim.navigations.push({ kind: 'reLaunch', url }) },
  redirectTo: ({ url }) => { shim.navigations.push({ kind: 'redirectTo', url }) },
  navigateTo: ({ url }) => { shim.navigations.push({ kind: 'navigateTo', url }) },
  showToast: ({ title }) => { shim.toasts.push(title) },
  // WeChat Pay's sheet: the test plays the payer (see payLatest in the tests).
  requestPayment: (options) => { shim.payments.push(options) },
}
global.getApp = () => ({})

/** A page of the mini-program, rendered and attached, as the WeChat client shows it. */
function renderPage(page) {
  const id = simulate.load(path.join(ROOT, page), { compiler: 'simulate', rootPath: ROOT })
  const component = simulate.render(id)
  component.attach(document.createElement('parent-wrapper'))
  return component
}

/** The text a person reads in the element `selector` of a page ('' when it is not shown). */
function textOf(component, selector) {
  const found = component.querySelector(selector)
  return found ? found.dom.textContent.trim() : ''
}

/** Wait until check() holds (pages answer taps asynchronously), or fail saying what it was. */
async function until(check, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
    await simulate.sleep(20)
  }
}

/** Let every pending promise and render of a tap settle. */
function settle() {
  return simulate.sleep(0)
}

module.exports = { BASE_URL, APPID, renderPage, settle, shim, simulate, textOf, until }

// memberhub's HTTP API (docs/api.md, consumer section) over wx.request, with the member's token.
const config = require('../config')

const TOKEN_KEY = 'memberhub.token'

class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {}
    super(error.message || `HTTP ${status}`)
    this.status = status
    this.code = error.code || 'http.error'
    this.details = error.details
  }
}

function token() {
  return wx.getStorageSync(TOKEN_KEY) || ''
}

function saveToken(value) {
  wx.setStorageSync(TOKEN_KEY, value)
}

function forgetToken() {
  wx.removeStorageSync(TOKEN_KEY)
}

function base() {
  return config.apiBase.replace(/\/$/, '')
}

/** One call to `${apiBase}${path}`: the JSON answer, or an ApiError (a NetworkError). */
function call(method, url, data, headers) {
  return new Promise((resolve, reject) => {
    wx.request({
      url,
      method,
      data,
      header: { 'content-type': 'application/json', ...headers },
      success(res) {
        if (res.statusCode >= 200 && res.statusCode < 300) resolve(res.data)
        else reject(new ApiError(res.statusCode, res.data))
      },
      fail(err) {
        reject(new Error(`网络异常：${(err && err.errMsg) || ''}`))
      },
    })
  })
}

/** An API call as the signed-in member; a 401 forgets the token and goes back to sign in. */
async function request(method, path, data, headers = {}) {
  const all = { ...headers }
  const current = token()
  if (current) all.Authorization = `Bearer ${current}`
  try {
    return await call(method, `${base()}/api/v1${path}`, data, all)
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      forgetToken()
      wx.reLaunch({ url: '/pages/login/index' })
    }
    throw error
  }
}

/** A key for one attempt at a coupon-, points- or money-moving POST: a retry sends it again. */
function idempotencyKey() {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`
}

/** What went wrong, for a toast. */
function describe(error) {
  if (error instanceof ApiError) return error.message
  return (error && error.message) || '出错了，请稍后再试'
}

module.exports = {
  ApiError,
  call,
  base,
  describe,
  forgetToken,
  idempotencyKey,
  saveToken,
  token,
  get: (path) => request('GET', path),
  post: (path, data, headers) => request('POST', path, data === undefined ? {} : data, headers),
  patch: (path, data) => request('PATCH', path, data),
  del: (path) => request('DELETE', path),
}

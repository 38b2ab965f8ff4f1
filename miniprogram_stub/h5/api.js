// memberhub's HTTP API (docs/api.md, consumer section), with the member's token.

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {}
    super(error.message || `HTTP ${status}`)
    this.status = status
    this.code = error.code || 'http.error'
    this.details = error.details
  }
}

export class Api {
  constructor(base, token = null) {
    this.base = base.replace(/\/$/, '')
    this.token = token
  }

  async request(method, path, { body, headers = {} } = {}) {
    const all = { Accept: 'application/json', ...headers }
    if (body !== undefined) all['Content-Type'] = 'application/json'
    if (this.token) all.Authorization = `Bearer ${this.token}`
    const response = await fetch(`${this.base}/api/v1${path}`, {
      method,
      headers: all,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    const data = text ? JSON.parse(text) : null
    if (!response.ok) throw new ApiError(response.status, data)
    return data
  }

  get(path) {
    return this.request('GET', path)
  }

  post(path, body, headers) {
    return this.request('POST', path, { body, headers })
  }
}

/** A key for one attempt at a money- or coupon-moving POST: a retry sends the same one. */
export function idempotencyKey() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID()
  return `${Date.now()}-${Math.random().toString(16).slice(2)}`
}

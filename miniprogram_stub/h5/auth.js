// Official-account web authorization: WeChat's authorize page sends the visitor back here with a
// one-time code, which memberhub exchanges (POST /auth/oa/oauth) for a member token.

const STATE_KEY = 'memberhub.h5.oauth_state'

function tokenKey(appid) {
  return `memberhub.h5.token.${appid}`
}

export function savedToken(appid) {
  return sessionStorage.getItem(tokenKey(appid))
}

export function saveToken(appid, token) {
  sessionStorage.setItem(tokenKey(appid), token)
}

export function forgetToken(appid) {
  sessionStorage.removeItem(tokenKey(appid))
}

/** Off to WeChat's authorize page; it comes back to this very address with `code` and `state`. */
export function goAuthorize({ oauthBase, appid, scope }) {
  const state = Math.random().toString(36).slice(2, 12)
  sessionStorage.setItem(STATE_KEY, state)
  const back = new URL(location.href)
  back.searchParams.delete('code')
  back.searchParams.delete('state')
  back.hash = ''
  const url = new URL(`${oauthBase.replace(/\/$/, '')}/connect/oauth2/authorize`)
  url.searchParams.set('appid', appid)
  url.searchParams.set('redirect_uri', back.toString())
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('scope', scope)
  url.searchParams.set('state', state)
  location.assign(`${url.toString()}#wechat_redirect`)
}

/** The code WeChat sent back, once: it leaves the address bar, and a foreign state is refused. */
export function takeReturnedCode() {
  const url = new URL(location.href)
  const code = url.searchParams.get('code')
  if (!code) return null
  const state = url.searchParams.get('state') || ''
  const expected = sessionStorage.getItem(STATE_KEY)
  sessionStorage.removeItem(STATE_KEY)
  url.searchParams.delete('code')
  url.searchParams.delete('state')
  history.replaceState(null, '', url.toString())
  if (!expected || state !== expected) return null
  return code
}

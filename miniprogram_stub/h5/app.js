// The H5 member center: member card, member code, coupons and points, one view at a time.
import config from './config.js'
import { Api, ApiError, idempotencyKey } from './api.js'
import { forgetToken, goAuthorize, saveToken, savedToken, takeReturnedCode } from './auth.js'
import { couponValue, day, entryTitle, groupDigits, minute, progress, yuan } from './format.js'

const params = new URLSearchParams(location.search)
const settings = {
  // `?api=` only when no address is configured: a deployed page never talks to another host.
  apiBase: config.apiBase || params.get('api') || location.origin,
  appid: config.appid || params.get('appid') || '',
  scope: config.scope || 'snsapi_base',
  scene: params.get('scene') || undefined,
}
settings.oauthBase = config.oauthBase || `${settings.apiBase.replace(/\/$/, '')}/sandbox/wechat`

const VIEWS = { card: '会员卡', code: '会员码', coupons: '优惠券', points: '积分' }
// The member code is asked for again this long before it expires.
const CODE_REFRESH_MARGIN_MS = 10_000
const CODE_REFRESH_MIN_MS = 3_000

const api = new Api(settings.apiBase)
const main = document.getElementById('view')
let codeTimer = null
let countdownTimer = null

/** An element: h('p', {class: 'x'}, 'text', child …); text is never parsed as HTML. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value)
    else node.setAttribute(name, value === true ? '' : value)
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    node.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return node
}

function show(...nodes) {
  main.replaceChildren(...nodes.filter((node) => node !== null && node !== undefined))
}

function toast(text) {
  const box = document.getElementById('toast')
  box.textContent = text
  box.hidden = false
  clearTimeout(toast.timer)
  toast.timer = setTimeout(() => { box.hidden = true }, 2500)
}

function problem(error) {
  if (error instanceof ApiError) return `${error.message}（${error.code}）`
  return '网络异常，请稍后再试'
}

function stopTimers() {
  clearTimeout(codeTimer)
  clearInterval(countdownTimer)
  codeTimer = countdownTimer = null
}

// --- signing in ----------------------------------------------------------------------------

async function signIn() {
  if (!settings.appid) {
    show(h('p', { class: 'notice' }, '缺少公众号 appid：请从公众号菜单进入会员中心。'))
    return false
  }
  const token = savedToken(settings.appid)
  if (token) {
    api.token = token
    return true
  }
  const code = takeReturnedCode()
  if (!code) {
    show(h('p', { class: 'notice' }, '正在前往微信授权…'))
    goAuthorize(settings)
    return false
  }
  show(h('p', { class: 'notice' }, '正在登录…'))
  const login = await api.post('/auth/oa/oauth', {
    appid: settings.appid, code, ...(settings.scene ? { scene: settings.scene } : {}),
  })
  api.token = login.token
  saveToken(settings.appid, login.token)
  return true
}

// --- views ---------------------------------------------------------------------------------

async function cardView() {
  const [me, ladder, coupons] = await Promise.all([
    api.get('/me'),
    api.get('/levels'),
    api.get('/me/coupons?status=available&limit=100'),
  ])
  const step = progress(me, ladder.items)
  const levelName = me.level ? me.level.name : '普通会员'
  const couponCount = coupons.items.length + (coupons.next_cursor ? '+' : '')
  show(
    me.status === 'visitor'
      ? h('p', { class: 'notice' }, '您还不是正式会员：在品牌小程序中绑定手机号即可完成注册。')
      : null,
    h('section', { class: 'card', 'data-testid': 'member-card' },
      h('div', { class: 'card-top' },
        h('div', {},
          h('div', { class: 'nickname' }, me.nickname || '会员'),
          h('div', { class: 'member-no' }, `会员号 ${me.member_no}`),
        ),
        h('span', { class: 'level' }, levelName),
      ),
      me.phone ? h('div', { class: 'phone' }, `手机 ${me.phone}`) : null,
      h('div', { class: 'growth' },
        h('div', { class: 'bar' }, h('div', { class: 'bar-fill', style: `width:${step.percent}%` })),
        h('div', { class: 'growth-text' },
          step.next
            ? `成长值 ${me.growth} / ${step.next.growth_threshold}，再 ${step.missing} 升级为${step.next.name}`
            : `成长值 ${me.growth}，已是最高等级`),
      ),
    ),
    h('section', { class: 'stats' },
      h('a', { class: 'stat', href: '#points' }, h('b', {}, String(me.points)), h('span', {}, '积分')),
      h('div', { class: 'stat' }, h('b', {}, yuan(me.wallet.total_fen)), h('span', {}, '储值余额')),
      h('a', { class: 'stat', href: '#coupons' }, h('b', {}, String(couponCount)), h('span', {}, '优惠券')),
    ),
    h('section', { class: 'list' },
      h('div', { class: 'row' }, h('span', {}, '所属门店'), h('span', {}, me.home_store ? me.home_store.name : '未绑定')),
      h('div', { class: 'row' }, h('span', {}, '专属导购'), h('span', {}, me.guide ? me.guide.name : '暂无')),
      me.level && me.level.benefits.length
        ? h('div', { class: 'row' }, h('span', {}, '等级权益'), h('span', {}, me.level.benefits.join('、')))
        : null,
    ),
    h('a', { class: 'button primary', href: '#code' }, '出示会员码'),
  )
}

async function codeView() {
  const member = await api.get('/me/code')
  if (location.hash !== '#code') return
  const expires = new Date(member.expires_at).getTime()
  const left = h('span', { class: 'countdown' })
  const tick = () => {
    left.textContent = `${Math.max(0, Math.ceil((expires - Date.now()) / 1000))} 秒后失效`
  }
  tick()
  show(
    h('section', { class: 'code-panel', 'data-testid': 'member-code' },
      h('p', { class: 'hint' }, '到店消费时请出示此码，仅限本人使用'),
      h('img', {
        class: 'barcode', alt: '会员码条形码',
        src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(member.barcode_svg)}`,
      }),
      h('div', { class: 'digits', 'data-testid': 'member-code-digits' }, groupDigits(member.code)),
      h('img', { class: 'qr', alt: '会员码二维码', src: `data:image/png;base64,${member.qr_png_base64}` }),
      h('p', { class: 'hint' }, '会员码自动刷新，', left),
      h('button', { class: 'button', type: 'button', onclick: () => render() }, '刷新'),
    ),
  )
  stopTimers()
  countdownTimer = setInterval(tick, 1000)
  const wait = Math.max(expires - Date.now() - CODE_REFRESH_MARGIN_MS, CODE_REFRESH_MIN_MS)
  codeTimer = setTimeout(() => { if (location.hash === '#code') render() }, wait)
}

function offerRow(offer) {
  const claim = async (event) => {
    event.target.disabled = true
    try {
      await api.post(`/coupon-templates/${offer.template_id}/claim`, undefined, {
        'Idempotency-Key': idempotencyKey(),
      })
      toast('领取成功，已放入我的券包')
      location.hash = '#coupons/mine'
    } catch (error) {
      event.target.disabled = false
      toast(`领取失败：${problem(error)}`)
    }
  }
  return h('li', { class: 'coupon' },
    h('div', { class: 'coupon-value' }, couponValue(offer)),
    h('div', { class: 'coupon-body' },
      h('div', { class: 'coupon-name' }, offer.name),
      h('div', { class: 'coupon-meta' },
        offer.valid_days ? `领取后 ${offer.valid_days} 天内有效` : `有效期至 ${day(offer.valid_until)}`,
        ` · 剩余 ${offer.remaining_stock} 张`),
    ),
    h('button', { class: 'button small primary', type: 'button', onclick: claim }, '领取'),
  )
}

function couponRow(coupon) {
  return h('li', { class: 'coupon' },
    h('div', { class: 'coupon-value' }, couponValue(coupon)),
    h('div', { class: 'coupon-body' },
      h('div', { class: 'coupon-name' }, coupon.name),
      h('div', { class: 'coupon-meta' }, `券码 ${coupon.code} · ${day(coupon.valid_until)} 到期`),
    ),
  )
}

async function couponsView(tab) {
  const mine = tab === 'mine'
  const tabs = h('nav', { class: 'tabs' },
    h('a', { href: '#coupons', class: mine ? '' : 'active' }, '领券中心'),
    h('a', { href: '#coupons/mine', class: mine ? 'active' : '' }, '我的券包'),
  )
  if (mine) {
    const page = await api.get('/me/coupons?status=available')
    show(tabs, page.items.length
      ? h('ul', { class: 'coupons', 'data-testid': 'wallet' }, page.items.map(couponRow))
      : h('p', { class: 'empty' }, '券包空空，去领券中心看看吧'))
  } else {
    const center = await api.get('/coupon-center')
    show(tabs, center.items.length
      ? h('ul', { class: 'coupons', 'data-testid': 'coupon-center' }, center.items.map(offerRow))
      : h('p', { class: 'empty' }, '暂时没有可领取的优惠券'))
  }
}

async function pointsView() {
  const [summary, entries] = await Promise.all([api.get('/me/points'), api.get('/me/points/entries')])
  show(
    h('section', { class: 'points-head' },
      h('b', {}, String(summary.available)), h('span', {}, '可用积分'),
      summary.next_expiry_points
        ? h('p', { class: 'hint' }, `${summary.next_expiry_points} 积分将于 ${day(summary.next_expiry_at)} 过期`)
        : null,
    ),
    entries.items.length
      ? h('ul', { class: 'entries', 'data-testid': 'points-entries' }, entries.items.map((entry) =>
        h('li', {},
          h('div', {}, h('div', {}, entryTitle(entry)), h('small', {}, minute(entry.created_at))),
          h('b', { class: entry.delta >= 0 ? 'plus' : 'minus' }, `${entry.delta >= 0 ? '+' : ''}${entry.delta}`),
        )))
      : h('p', { class: 'empty' }, '还没有积分记录'),
  )
}

// --- routing -------------------------------------------------------------------------------

async function render() {
  const [name, tab] = (location.hash.slice(1) || 'card').split('/')
  const view = name in VIEWS ? name : 'card'
  document.title = `${VIEWS[view]} · 会员中心`
  for (const link of document.querySelectorAll('.tabbar a')) {
    link.classList.toggle('active', link.getAttribute('href') === `#${view}`)
  }
  if (view !== 'code') stopTimers()
  try {
    if (view === 'card') await cardView()
    else if (view === 'code') await codeView()
    else if (view === 'coupons') await couponsView(tab)
    else await pointsView()
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      forgetToken(settings.appid)
      api.token = null
      goAuthorize(settings)
      return
    }
    show(h('p', { class: 'notice error' }, `加载失败：${problem(error)}`))
  }
}

async function start() {
  try {
    if (!(await signIn())) return
  } catch (error) {
    show(h('p', { class: 'notice error' }, `登录失败：${problem(error)}`))
    return
  }
  window.addEventListener('hashchange', render)
  await render()
}

start()

// The mini-program's pages against a running memberhub: a person opens the mini-program from a
// guide's code, registers with their phone, sees their member center, shows their member code,
// claims a coupon, spends points and recharges the wallet. Run by
// tests/integration/test_miniprogram_pages.py (which starts the server), or by hand:
//   MEMBERHUB_URL=http://127.0.0.1:8000 MEMBERHUB_DEMO='{"hq_token": "…"}' node --test miniprogram_stub/tests
const path = require('node:path')
const test = require('node:test')
const assert = require('node:assert/strict')
const { BASE_URL, renderPage, settle, shim, textOf, until } = require('./wx-shim')

const DEMO = JSON.parse(process.env.MEMBERHUB_DEMO || '{}')
const CENTER_COUPON = DEMO.center_coupon || '新品满减券'
const MALL_ITEM = DEMO.mall_item || '积分兑换 5 元券'
const PHONE = `139${String(Date.now()).slice(-8)}`
const OPENING_POINTS = 120
const CODE_PAGE = path.join('pages', 'code', 'index.js')

async function http(method, route, { token, body, headers = {} } = {}) {
  const all = { 'content-type': 'application/json', ...headers }
  if (token) all.Authorization = `Bearer ${token}`
  const answer = await fetch(`${BASE_URL}${route}`, {
    method, headers: all, body: body === undefined ? undefined : JSON.stringify(body),
  })
  const data = await answer.json()
  assert.ok(answer.ok, `${method} ${route}: ${answer.status} ${JSON.stringify(data)}`)
  return data
}

function memberToken() {
  return shim.storage.get('memberhub.token')
}

test('log in from a guide code, bind the phone, and the member center shows the member', async () => {
  // when the mini-program opens on the login page from guide GSH001's code
  const login = renderPage('pages/login/index')
  await login.instance.onLoad({ scene: encodeURIComponent('g=GSH001') })

  // then the visitor is signed in and asked for their phone
  assert.equal(login.data.step, 'phone')
  assert.equal(textOf(login, '#status'), '授权手机号，完成会员注册')
  assert.ok(memberToken(), 'a member token is kept')

  // when they agree to share their phone on the getPhoneNumber button
  const code = await shim.phoneCode(PHONE)
  login.querySelector('#phone-button').dispatchEvent('getphonenumber', {
    detail: { code, errMsg: 'getPhoneNumber:ok' },
  })

  // then they are a member and the mini-program goes to the member center
  await until(() => shim.navigations.length, 'the page to navigate')
  assert.deepEqual(shim.navigations.pop(), { kind: 'reLaunch', url: '/pages/member/index' })
  const me = await http('GET', '/api/v1/me', { token: memberToken() })
  assert.equal(me.status, 'member')

  // given head office gives them opening points
  await http('POST', `/api/v1/admin/members/${me.id}/points-adjustments`, {
    token: DEMO.hq_token,
    body: { delta: OPENING_POINTS, reason: '开卡礼' },
    headers: { 'Idempotency-Key': `page-test-${me.id}` },
  })

  // when the member center shows
  const center = renderPage('pages/member/index')
  await center.instance.onShow()

  // then it shows this member: number, phone, level and progress, points, wallet, store, guide
  assert.equal(textOf(center, '#member-no'), `会员号 ${me.member_no}`)
  assert.equal(textOf(center, '#phone'), `手机 ${PHONE.slice(0, 3)}****${PHONE.slice(-4)}`)
  assert.equal(textOf(center, '#level'), '普卡会员')
  assert.equal(textOf(center, '#growth'), '成长值 0 / 1000，再 1000 升级为银卡会员')
  assert.equal(textOf(center, '#points'), String(OPENING_POINTS))
  assert.equal(textOf(center, '#wallet'), '¥0.00')
  assert.equal(textOf(center, '#coupons'), '0')
  assert.equal(textOf(center, '#home-store'), '南京西路店')
  assert.equal(textOf(center, '#guide'), '南京西路店 导购')
  assert.equal(textOf(center, '#benefits'), '生日赠饮')

  // and its buttons lead to the other pages
  center.querySelector('#code-button').dispatchEvent('tap')
  await until(() => shim.navigations.length, 'the code button to navigate')
  assert.deepEqual(shim.navigations.pop(), { kind: 'navigateTo', url: '/pages/code/index' })
})

test('the member code shows its QR and barcode and is fetched again before it expires', async () => {
  // given the page's timers are watched (the refresh is scheduled, not waited for)
  const scheduled = []
  const realSetTimeout = global.setTimeout
  global.setTimeout = (callback, ms, ...rest) => {
    // The code page's own timers only (node's fetch keeps timers of its own).
    if (new Error().stack.includes(CODE_PAGE)) {
      scheduled.push({ callback, ms })
      return realSetTimeout(() => {}, 0)
    }
    return realSetTimeout(callback, ms, ...rest)
  }
  try {
    // when the code page shows
    const page = renderPage('pages/code/index')
    const before = Date.now()
    await page.instance.onShow()

    // then it shows the 18 digits, the QR as a PNG and the barcode as an SVG image
    const first = page.data.code
    assert.match(first, /^68\d{16}$/)
    assert.equal(textOf(page, '#digits'), first.replace(/(\d{4})(?=\d)/g, '$1 '))
    assert.ok(page.querySelector('#qr') && page.querySelector('#barcode'), 'both images are shown')
    const png = Buffer.from(page.data.qrSrc.replace('data:image/png;base64,', ''), 'base64')
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47])
    const svg = Buffer.from(page.data.barcodeSrc.replace('data:image/svg+xml;base64,', ''), 'base64')
    assert.match(svg.toString(), /<svg[\s\S]*<\/svg>/)

    // and a refresh is scheduled before the code expires
    assert.equal(scheduled.length, 1)
    const { expiresAt } = page.data
    assert.match(textOf(page, '#expiry'), /^会员码自动刷新，\d{2}:\d{2}:\d{2} 前有效$/)
    assert.ok(scheduled[0].ms > 0 && before + scheduled[0].ms < expiresAt,
      `refresh in ${scheduled[0].ms} ms, expiry ${expiresAt - before} ms away`)

    // when it fires, a new code shows
    await scheduled[0].callback()
    assert.match(page.data.code, /^68\d{16}$/)
    assert.notEqual(page.data.code, first)
    assert.equal(textOf(page, '#digits'), page.data.code.replace(/(\d{4})(?=\d)/g, '$1 '))
    page.instance.onUnload()
  } finally {
    global.setTimeout = realSetTimeout
  }
})

test('a coupon claimed in the coupon center is in the wallet', async () => {
  // when the coupon center shows
  const page = renderPage('pages/coupons/index')
  page.instance.onLoad({})
  await page.instance.onShow()

  // then it offers the brand's coupon
  const offer = page.data.offers.find((item) => item.name === CENTER_COUPON)
  assert.ok(offer, `offered: ${page.data.offers.map((item) => item.name)}`)
  assert.equal(offer.valueText, '满50减10')
  assert.match(textOf(page, '#center'), new RegExp(`${CENTER_COUPON}领取后 30 天内有效`))

  // when the member taps its claim button
  const index = page.data.offers.indexOf(offer)
  page.querySelectorAll('.claim')[index].dispatchEvent('tap')

  // then the wallet tab shows it, with its code
  await until(() => page.data.tab === 'mine' && page.data.loaded, 'the wallet to show')
  assert.ok(shim.toasts.includes('领取成功'), shim.toasts.join())
  const wallet = textOf(page, '#wallet')
  assert.match(wallet, new RegExp(`满50减10${CENTER_COUPON}券码 C[A-Z2-9]{11}`))

  // and the coupon center no longer offers it (one per member)
  page.querySelector('#tab-center').dispatchEvent('tap')
  await until(() => page.data.tab === 'center' && page.data.loaded, 'the center to show')
  assert.ok(!page.data.offers.some((item) => item.name === CENTER_COUPON))
})

test('points buy a coupon in the points mall', async () => {
  const page = renderPage('pages/points-mall/index')
  await page.instance.onShow()

  assert.equal(textOf(page, '#points-available'), String(OPENING_POINTS))
  const index = page.data.items.findIndex((item) => item.name === MALL_ITEM)
  assert.ok(index >= 0, `on the shelf: ${page.data.items.map((item) => item.name)}`)
  assert.match(textOf(page, '#items'), new RegExp(`100 积分${MALL_ITEM}5元无门槛`))

  page.querySelectorAll('.exchange')[index].dispatchEvent('tap')

  await until(() => page.data.pointsAvailable === OPENING_POINTS - 100, 'the points to drop')
  assert.ok(shim.toasts.includes('兑换成功，券已放入券包'), shim.toasts.join())
  assert.equal(textOf(page, '#points-available'), String(OPENING_POINTS - 100))
  assert.equal(page.data.items[index].affordable, false)
})

test('a recharge paid through WeChat Pay lands in the wallet', async () => {
  const page = renderPage('pages/recharge/index')
  await page.instance.onShow()
  assert.equal(textOf(page, '#balance'), '¥0.00')
  assert.match(textOf(page, '#packages'), /¥100\.00充 100 送 10到账 ¥110\.00/)

  // when the member taps the package, WeChat Pay's sheet opens with memberhub's parameters
  page.querySelector('.package').dispatchEvent('tap')
  await until(() => shim.payments.length, 'wx.requestPayment')
  const payment = shim.payments.pop()
  assert.match(payment.package, /^prepay_id=/)
  assert.ok(payment.paySign && payment.timeStamp && payment.nonceStr && payment.signType)
  const outTradeNo = page.data.paying.out_trade_no
  assert.match(textOf(page, '#paying'), new RegExp(`正在支付 ¥100\\.00，订单号 ${outTradeNo}`))

  // and they pay: WeChat Pay notifies memberhub, and tells the page
  await http('POST', `/sandbox/payments/${outTradeNo}/pay`, { body: {} })
  payment.success({ errMsg: 'requestPayment:ok' })

  // then the wallet shows the principal and the package's bonus
  await until(() => textOf(page, '#balance') === '¥110.00', 'the wallet to be credited')
  assert.equal(textOf(page, '#balance-detail'), '本金 ¥100.00 · 赠送 ¥10.00')
})

// The mall's pages against a running memberhub: a member finds a product on the shelf (search,
// a category, the next page), puts it in the cart, checks out with a coupon and points, pays
// through WeChat Pay and collects it at the store with its pickup code; the order lifts them to
// 银卡, and the shelf, the product and the checkout then show 银卡 prices and the level discount
// of a delivered order. Run by tests/integration/test_miniprogram_pages.py with the member
// journey (each test file is its own WeChat user); the shelf is tests/support/mall_demo.py's.
const test = require('node:test')
const assert = require('node:assert/strict')
const { BASE_URL, renderPage, shim, textOf, until } = require('./wx-shim')

const DEMO = JSON.parse(process.env.MEMBERHUB_DEMO || '{}')
const MALL = DEMO.mall
const PHONE = `138${String(Date.now()).slice(-8)}`
const OPENING_POINTS = 500
const PAGE_SIZE = 10
const BEANS = '耶加雪菲咖啡豆'
const DRIP = '挂耳咖啡 1 号'
const MACHINE = '意式咖啡机'
const ADDRESS = { name: '张三', phone: '13912345678', detail: '上海市静安区南京西路 1266 号' }

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

function asMember(method, route, body) {
  return http(method, `/api/v1${route}`, { token: memberToken(), body })
}

function navigated() {
  return until(() => shim.navigations.pop(), 'the page to navigate')
}

function rowText(page, key) {
  return textOf(page, `#row-${key}`)
}

/** The price rows of a page's `panel` (#preview, #amounts), as "label value" lines. */
function rows(page, panel = '#preview') {
  return page.querySelectorAll(`${panel} .amount-row`).map((row) => row.dom.textContent.trim())
}

/** The member taps WeChat Pay's sheet: the sandbox pays the order, WeChat tells the page. */
async function payOn(page) {
  page.querySelector('#pay-button').dispatchEvent('tap')
  const payment = await until(() => shim.payments.pop(), 'wx.requestPayment')
  assert.match(payment.package, /^prepay_id=/)
  assert.ok(payment.paySign && payment.timeStamp && payment.nonceStr && payment.signType)
  assert.equal(payment.appId, undefined, 'wx.requestPayment takes no appId')
  const outTradeNo = page.data.paying.out_trade_no
  assert.match(textOf(page, '#paying'), new RegExp(`正在支付，支付单号 ${outTradeNo}`))
  await http('POST', `/sandbox/payments/${outTradeNo}/pay`, { body: {} })
  payment.success({ errMsg: 'requestPayment:ok' })
  await until(() => page.data.order.state !== 'pending_payment', 'the order to be paid')
}

test.before(async () => {
  assert.ok(MALL, 'MEMBERHUB_DEMO names the mall the demo was given (tests/support/mall_demo.py)')
  // given a visitor who opened the mini-program from guide GSH001's code and bound their phone
  const login = renderPage('pages/login/index')
  await login.instance.onLoad({ scene: encodeURIComponent('g=GSH001') })
  const code = await shim.phoneCode(PHONE)
  login.querySelector('#phone-button').dispatchEvent('getphonenumber', {
    detail: { code, errMsg: 'getPhoneNumber:ok' },
  })
  await navigated()
  const me = await asMember('GET', '/me')
  assert.equal(me.level.name, '普卡会员')
  // with opening points and the mall's coupon, claimed in the coupon center
  await http('POST', `/api/v1/admin/members/${me.id}/points-adjustments`, {
    token: DEMO.hq_token,
    body: { delta: OPENING_POINTS, reason: '开卡礼' },
    headers: { 'Idempotency-Key': `mall-page-test-${me.id}` },
  })
  await asMember('POST', `/coupon-templates/${MALL.coupon_template_id}/claim`, {})
})

test('the shelf: newest first, a page at a time, searched and by category', async () => {
  // when the member opens the mall from the member center
  const center = renderPage('pages/member/index')
  await center.instance.onShow()
  center.querySelector('#shop-link').dispatchEvent('tap')
  assert.deepEqual(await navigated(), { kind: 'navigateTo', url: '/pages/mall/index' })
  const shelf = renderPage('pages/mall/index')
  shelf.instance.onLoad({})
  await shelf.instance.onShow()

  // then it shows the first page, newest first, at the member's (普卡) prices
  const names = shelf.data.products.map((product) => product.name)
  assert.equal(names.length, PAGE_SIZE)
  assert.deepEqual(names.slice(0, 2), [BEANS, MACHINE])
  assert.equal(textOf(shelf, '#level-note'), '按普卡会员价格显示')
  const cards = shelf.querySelectorAll('.product')
  assert.equal(cards[0].dom.textContent.replace(/\s+/g, ''), `${BEANS}¥88.00起`)
  assert.equal(cards[1].dom.textContent.replace(/\s+/g, ''), `${MACHINE}¥1299.00`)

  // and the next page on a tap
  shelf.querySelector('#more').dispatchEvent('tap')
  await until(() => shelf.data.products.length === PAGE_SIZE + 1, 'the second page')
  assert.equal(shelf.querySelector('#more'), undefined)

  // when they search
  shelf.querySelector('#search').dispatchEvent('input', { detail: { value: '咖啡机' } })
  shelf.querySelector('#search-button').dispatchEvent('tap')
  await until(() => shelf.data.products.length === 1, 'the search')
  assert.equal(shelf.data.products[0].name, MACHINE)

  // when the mall opens on a category
  const category = renderPage('pages/mall/index')
  category.instance.onLoad({
    category_id: String(MALL.categories['器具']), category: encodeURIComponent('器具'),
  })
  await category.instance.onShow()
  assert.deepEqual(category.data.products.map((product) => product.name), [MACHINE])
  assert.equal(textOf(category, '#category'), '器具 ✕')
  category.querySelector('#category').dispatchEvent('tap')
  await until(() => category.data.products.length === PAGE_SIZE, 'the whole shelf')

  // when they pick a category from the shelf's own list
  const chips = shelf.querySelectorAll('#categories .chip')
  assert.deepEqual(chips.map((chip) => chip.dom.textContent.trim()), Object.keys(MALL.categories))
  const tools = chips.find((chip) => chip.dom.textContent.trim() === '器具')
  tools.dispatchEvent('tap')
  await until(() => shelf.data.products.length === 1, 'the category')
  assert.equal(shelf.data.products[0].name, MACHINE)

  // and a product's card opens it
  cards[1].dispatchEvent('tap')
  assert.deepEqual(await navigated(), {
    kind: 'navigateTo', url: `/pages/mall/product?id=${MALL.products[MACHINE].id}`,
  })
})

test('a pickup order with a coupon and points is paid and shows its pickup code', async () => {
  // when the product page shows the coffee machine and the member adds it to the cart
  const product = renderPage('pages/mall/product')
  await product.instance.onLoad({ id: String(MALL.products[MACHINE].id) })
  assert.equal(textOf(product, '#name'), MACHINE)
  assert.equal(textOf(product, '#price'), '¥1299.00')
  assert.equal(textOf(product, '#skus'), '银色')
  product.querySelector('#add-button').dispatchEvent('tap')
  await until(() => product.data.cartCount === 1, 'the cart to hold it')
  assert.ok(shim.toasts.includes('已加入购物车'), shim.toasts.join())

  // then the cart shows it; its quantity and selection change the server's total
  const cart = renderPage('pages/mall/cart')
  await cart.instance.onShow()
  assert.deepEqual(cart.data.lines.map((line) => line.name), [MACHINE])
  assert.equal(textOf(cart, '#total'), '¥1299.00')
  cart.querySelector('.more').dispatchEvent('tap')
  await until(() => textOf(cart, '#total') === '¥2598.00', 'two machines')
  assert.equal(textOf(cart, '.quantity'), '2')
  cart.querySelector('.less').dispatchEvent('tap')
  await until(() => textOf(cart, '#total') === '¥1299.00', 'one machine')
  cart.querySelector('.check').dispatchEvent('tap')
  await until(() => textOf(cart, '#total') === '¥0.00', 'nothing selected')
  assert.equal(cart.data.selectedCount, 0)
  cart.querySelector('.check').dispatchEvent('tap')
  await until(() => cart.data.selectedCount === 1, 'it selected again')
  cart.querySelector('#checkout-button').dispatchEvent('tap')
  assert.deepEqual(await navigated(), { kind: 'navigateTo', url: '/pages/mall/checkout' })

  // when checkout shows, a delivery waits for an address; the member picks it up at their store
  const checkout = renderPage('pages/mall/checkout')
  await checkout.instance.onLoad({})
  assert.equal(textOf(checkout, '#preview-note'), '填写收货人、手机号和地址后显示应付金额')
  checkout.querySelector('#pickup-tab').dispatchEvent('tap')
  await until(() => checkout.data.preview, 'the preview')
  assert.equal(textOf(checkout, '#pickup-store'), `自提门店：${MALL.pickup_store.name}`)
  // (every store of the brand is offered, theirs chosen)
  const offered = checkout.querySelectorAll('#pickup-stores .store-choice')
  const stores = (await asMember('GET', '/mall/stores')).items
  assert.ok(stores.length > 1)
  assert.deepEqual(offered.map((row) => row.dom.textContent.trim()),
    stores.map((store) => `${store.city} · ${store.name}`))
  assert.ok(textOf(checkout, '#pickup-stores .active').endsWith(MALL.pickup_store.name))

  // and chooses the mall coupon and their points
  const coupon = checkout.data.coupons.find((item) => item.name === '商城满100减20')
  assert.ok(coupon, `usable: ${checkout.data.coupons.map((item) => item.name)}`)
  assert.equal(coupon.valueText, '满100减20')
  const index = checkout.data.coupons.indexOf(coupon)
  checkout.querySelectorAll('.coupon-option')[index].dispatchEvent('tap')
  await until(() => rowText(checkout, 'coupon') === '优惠券-¥20.00', 'the coupon in the preview')
  assert.equal(textOf(checkout, '#points'), `使用积分抵扣（可用 ${OPENING_POINTS} 积分）`)
  checkout.querySelector('#use-points').dispatchEvent('change', { detail: { value: true } })
  await until(() => checkout.data.preview.amounts.points_used, 'the points in the preview')

  // then the preview shows, line by line, what memberhub computed
  const body = {
    from_cart: true, fulfilment: 'pickup', store_id: MALL.pickup_store.id,
    coupon_ids: [coupon.id], points_to_use: OPENING_POINTS,
  }
  assert.deepEqual(await asMember('POST', '/mall/orders/preview', body), checkout.data.preview)
  // (no delivery fee for a pickup)
  assert.deepEqual(rows(checkout), [
    '商品金额¥1299.00', '等级折扣¥0.00', '优惠券-¥20.00', '积分抵扣（500 积分）-¥5.00',
  ])
  assert.equal(textOf(checkout, '#payable'), '¥1274.00')

  // when they submit it
  checkout.querySelector('#submit-button').dispatchEvent('tap')
  const opened = await navigated()
  assert.match(opened.url, /^\/pages\/mall\/order\?id=\d+$/)
  assert.equal(opened.kind, 'redirectTo')

  // then the order waits for its payment, priced as previewed
  const order = renderPage('pages/mall/order')
  order.instance.onLoad({ id: opened.url.split('=')[1] })
  await order.instance.onShow()
  assert.equal(textOf(order, '#state'), '待支付')
  assert.match(textOf(order, '#expires'), /^请在 \d{2}:\d{2}:\d{2} 前支付，超时订单将关闭$/)
  assert.equal(textOf(order, '#payable'), '¥1274.00')
  assert.equal(textOf(order, '#row-points'), '积分抵扣（500 积分）-¥5.00')

  // when they pay through WeChat Pay
  await payOn(order)

  // then it is paid, waiting at the store with the pickup code memberhub gave it
  const paid = await asMember('GET', `/mall/orders/${order.data.order.id}`)
  assert.equal(paid.state, 'ready_for_pickup')
  assert.match(paid.pickup_code, /^\d{6}$/)
  assert.equal(textOf(order, '#state'), '已支付，待自提')
  assert.equal(textOf(order, '#pickup-code'), paid.pickup_code)
  assert.equal(textOf(order, '#pickup-store'), `自提门店：${MALL.pickup_store.name}`)
  assert.equal(textOf(order, '#lines'), `${MACHINE}（银色）× 1¥1274.00`)
  assert.equal(order.querySelector('#pay-button'), undefined)

  // and the growth it earned lifts the member to 银卡
  assert.equal((await asMember('GET', '/me')).level.name, '银卡会员')
})

test('at 银卡, a delivery shows the level discount and its fee, and is listed paid', async () => {
  // when the shelf shows after the member reached 银卡
  const shelf = renderPage('pages/mall/index')
  shelf.instance.onLoad({})
  await shelf.instance.onShow()
  assert.equal(textOf(shelf, '#level-note'), '按银卡会员价格显示')
  assert.equal(shelf.querySelectorAll('.product')[0].dom.textContent.replace(/\s+/g, ''),
    `${BEANS}¥83.60起¥88.00`)

  // then the product prices each SKU at 95 折
  const product = renderPage('pages/mall/product')
  await product.instance.onLoad({ id: String(MALL.products[BEANS].id) })
  assert.equal(textOf(product, '#price'), '¥83.60')
  assert.equal(textOf(product, '#list-price'), '¥88.00')
  assert.equal(textOf(product, '#level-price'), '银卡会员价')
  product.querySelectorAll('.sku')[1].dispatchEvent('tap')
  await until(() => textOf(product, '#price') === '¥159.60', 'the 500g price')
  assert.equal(textOf(product, '#list-price'), '¥168.00')
  product.querySelectorAll('.sku')[0].dispatchEvent('tap')
  await until(() => textOf(product, '#price') === '¥83.60', 'the 250g price')
  product.querySelector('#add-button').dispatchEvent('tap')
  await until(() => product.data.cartCount === 1, 'the cart to hold it')

  // given a second line, which the member takes out of the cart
  await asMember('POST', '/mall/cart', { sku_id: MALL.products[DRIP].skus['GE-01'], quantity: 1 })
  const cart = renderPage('pages/mall/cart')
  await cart.instance.onShow()
  assert.deepEqual(cart.data.lines.map((line) => line.name), [BEANS, DRIP])
  assert.equal(textOf(cart, '#total'), '¥120.65')
  cart.querySelectorAll('.remove')[1].dispatchEvent('tap')
  await until(() => cart.data.lines.length === 1, 'the line to go')
  assert.equal(textOf(cart, '#total'), '¥83.60')
  assert.equal(textOf(cart, '.list-price'), '¥88.00')

  // when checkout is delivered to an address, with points
  const checkout = renderPage('pages/mall/checkout')
  await checkout.instance.onLoad({})
  for (const field of ['name', 'phone', 'detail']) {
    const input = checkout.querySelector(`#address-${field}`)
    input.dispatchEvent('input', { detail: { value: ADDRESS[field] } })
    input.dispatchEvent('blur', { detail: { value: ADDRESS[field] } })
  }
  await until(() => checkout.data.preview, 'the preview')
  checkout.querySelector('#use-points').dispatchEvent('change', { detail: { value: true } })
  await until(() => checkout.data.preview.amounts.points_used, 'the points in the preview')

  // then the preview shows the level discount, no coupon (none is usable), the points, the fee
  const me = await asMember('GET', '/me')
  const preview = await asMember('POST', '/mall/orders/preview', {
    from_cart: true, fulfilment: 'delivery', address: ADDRESS, coupon_ids: [],
    points_to_use: me.points,
  })
  assert.deepEqual(checkout.data.preview, preview)
  const { points_used: used, points_discount_fen: off, payable_fen: payable } = preview.amounts
  assert.ok(used > 0 && off > 0, JSON.stringify(preview.amounts))
  assert.equal(payable, 8800 - 440 - off + 1000)
  const yuan = (fen) => `¥${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`
  assert.deepEqual(rows(checkout), [
    '商品金额¥88.00', '等级折扣-¥4.40', '优惠券¥0.00', `积分抵扣（${used} 积分）-${yuan(off)}`,
    '运费¥10.00',
  ])
  assert.equal(textOf(checkout, '#payable'), yuan(payable))

  // when they submit it and pay
  checkout.querySelector('#submit-button').dispatchEvent('tap')
  const opened = await navigated()
  const order = renderPage('pages/mall/order')
  order.instance.onLoad({ id: opened.url.split('=')[1] })
  await order.instance.onShow()
  assert.equal(textOf(order, '#address'),
    `收货地址：${ADDRESS.name} ${ADDRESS.phone} ${ADDRESS.detail}`)
  await payOn(order)

  // then it is paid, waiting to be shipped, with no pickup code
  assert.equal(textOf(order, '#state'), '已支付，待发货')
  assert.equal(order.querySelector('#pickup-code'), undefined)
  assert.equal(textOf(order, '#row-level'), '等级折扣-¥4.40')

  // and the order list shows both orders, newest first, and filters by state
  const list = renderPage('pages/mall/orders')
  list.instance.onLoad({})
  await list.instance.onShow()
  const shown = list.querySelectorAll('.order')
    .map((item) => item.dom.textContent.replace(/\s+/g, ''))
  assert.equal(shown.length, 2)
  const head = `订单号${order.data.order.id}·${order.data.order.createdText}·快递配送`
  assert.equal(shown[0], `${head}已支付，待发货${BEANS}共1件${yuan(payable)}`)
  assert.match(shown[1], new RegExp(`门店自提已支付，待自提${MACHINE}共1件¥1274\\.00$`))
  list.querySelectorAll('.tab')[3].dispatchEvent('tap')
  await until(() => list.data.state === 'ready_for_pickup' && list.data.loaded, 'the pickup tab')
  assert.deepEqual(list.data.orders.map((item) => item.fulfilmentText), ['门店自提'])
  list.querySelectorAll('.order')[0].dispatchEvent('tap')
  assert.match((await navigated()).url, /^\/pages\/mall\/order\?id=\d+$/)
})

test('an unpaid order is cancelled from its page', async () => {
  // given an unpaid pickup order of a bag of beans (the store holds them)
  await asMember('POST', '/mall/cart', { sku_id: MALL.products[BEANS].skus['YJ-250'], quantity: 1 })
  const checkout = renderPage('pages/mall/checkout')
  await checkout.instance.onLoad({})
  checkout.querySelector('#pickup-tab').dispatchEvent('tap')
  await until(() => checkout.data.preview, 'the preview')
  checkout.querySelector('#submit-button').dispatchEvent('tap')
  const opened = await navigated()

  // when the member cancels it
  const order = renderPage('pages/mall/order')
  order.instance.onLoad({ id: opened.url.split('=')[1] })
  await order.instance.onShow()
  assert.equal(textOf(order, '#state'), '待支付')
  order.querySelector('#cancel-button').dispatchEvent('tap')

  // then it is cancelled, and can be neither paid nor cancelled again
  await until(() => textOf(order, '#state') === '已取消', 'the order to be cancelled')
  assert.ok(shim.toasts.includes('订单已取消'), shim.toasts.join())
  assert.equal(order.querySelector('#pay-button'), undefined)
  assert.equal((await asMember('GET', `/mall/orders/${order.data.order.id}`)).state, 'cancelled')
})

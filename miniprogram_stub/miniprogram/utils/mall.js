// How the mall's SKUs, order states and amounts read in the pages. Every amount is the server's:
// the pages show what memberhub priced, they never compute a price themselves.
const format = require('./format')

const ORDER_STATES = {
  pending_payment: '待支付',
  paid: '已支付，待发货',
  shipped: '已发货',
  delivered: '已送达',
  ready_for_pickup: '已支付，待自提',
  picked_up: '已自提',
  completed: '已完成',
  refunded: '已退款',
  cancelled: '已取消',
  closed: '已关闭（超时未支付）',
}

/** A SKU's spec, as a person reads it: {规格: "250g", 颜色: "银色"} → "250g / 银色". */
function specText(spec) {
  const values = Object.values(spec || {}).filter(Boolean)
  return values.length ? values.join(' / ') : '默认'
}

function stateText(state) {
  return ORDER_STATES[state] || state
}

/** An order's amounts (a preview's or an order's), line by line as the checkout shows them. */
function amountRows(amounts, fulfilment) {
  const rows = [{ key: 'goods', label: '商品金额', text: format.yuan(amounts.list_fen) }]
  if (amounts.member_price_discount_fen) {
    const text = format.yuan(-amounts.member_price_discount_fen)
    rows.push({ key: 'member-price', label: '会员价优惠', text })
  }
  rows.push(
    { key: 'level', label: '等级折扣', text: format.yuan(-amounts.level_discount_fen) },
    { key: 'coupon', label: '优惠券', text: format.yuan(-amounts.coupon_discount_fen) },
    {
      key: 'points',
      label: `积分抵扣（${amounts.points_used} 积分）`,
      text: format.yuan(-amounts.points_discount_fen),
    },
  )
  if (fulfilment === 'delivery') {
    rows.push({ key: 'delivery', label: '运费', text: format.yuan(amounts.delivery_fee_fen) })
  }
  return rows
}

module.exports = { ORDER_STATES, amountRows, specText, stateText }

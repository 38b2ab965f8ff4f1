// One order: its state, the pickup code of a paid pickup order, what was bought and what it
// cost (memberhub's amounts); an unpaid order is paid with wx.requestPayment or cancelled.
const api = require('../../utils/api')
const format = require('../../utils/format')
const mall = require('../../utils/mall')

// After WeChat says paid, ask memberhub this often, this many times, whether it knows yet.
const POLL_MS = 1000
const POLLS = 15

function wait(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

Component({
  data: {
    order: null, stateText: '', rows: [], payableText: '', lines: [], storeName: '',
    addressText: '', expiresText: '', paying: null, busy: false, error: '',
  },
  methods: {
    onLoad(query) {
      this.orderId = Number(query && query.id)
    },
    onShow() {
      return this.load()
    },

    async load() {
      try {
        const [order, stores] = await Promise.all([
          api.get(`/mall/orders/${this.orderId}`),
          api.get('/mall/stores'),
        ])
        this.show(order, stores.items)
      } catch (error) {
        this.setData({ error: `加载失败：${api.describe(error)}` })
      }
    },

    show(order, stores) {
      const { address } = order
      const where = address
        ? [address.province, address.city, address.district, address.detail].filter(Boolean)
        : []
      let storeName = ''
      if (order.fulfilment === 'pickup') {
        const store = stores.find((candidate) => candidate.id === order.store_id)
        storeName = store ? store.name : `门店 ${order.store_id}`
      }
      this.setData({
        order: {
          id: order.id,
          state: order.state,
          fulfilment: order.fulfilment,
          pickupCode: order.pickup_code || '',
          createdText: format.day(order.created_at),
        },
        stateText: mall.stateText(order.state),
        rows: mall.amountRows(order.amounts, order.fulfilment),
        payableText: format.yuan(order.amounts.payable_fen),
        lines: order.lines.map((line) => ({
          skuId: line.sku_id,
          name: line.name,
          specText: mall.specText(line.spec),
          quantity: line.quantity,
          payableText: format.yuan(line.payable_fen),
        })),
        storeName,
        addressText: order.fulfilment === 'delivery' && address
          ? `${address.name} ${address.phone} ${where.join(' ')}`
          : '',
        expiresText: order.state === 'pending_payment'
          ? `请在 ${format.clock(Date.parse(order.expires_at))} 前支付，超时订单将关闭`
          : '',
        error: '',
      })
    },

    async pay() {
      if (this.data.busy) return
      this.setData({ busy: true })
      let paying
      try {
        paying = await api.post(`/mall/orders/${this.orderId}/pay`, { provider: 'wechat' })
      } catch (error) {
        this.setData({ busy: false })
        wx.showToast({ title: `支付失败：${api.describe(error)}`, icon: 'none' })
        return
      }
      this.setData({ paying: { out_trade_no: paying.out_trade_no, amount_fen: paying.amount_fen } })
      const { appId, ...params } = paying.pay_params
      wx.requestPayment({
        ...params,
        success: () => this.afterPaid(),
        fail: () => {
          this.setData({ paying: null, busy: false })
          wx.showToast({ title: '支付未完成', icon: 'none' })
        },
      })
    },

    async afterPaid() {
      for (let i = 0; i < POLLS; i += 1) {
        const order = await api.get(`/mall/orders/${this.orderId}`)
        if (order.state !== 'pending_payment') break
        await wait(POLL_MS)
      }
      this.setData({ paying: null, busy: false })
      wx.showToast({ title: '支付成功', icon: 'success' })
      await this.load()
    },

    async cancel() {
      if (this.data.busy) return
      this.setData({ busy: true })
      try {
        await api.post(`/mall/orders/${this.orderId}/cancel`)
        wx.showToast({ title: '订单已取消', icon: 'success' })
        await this.load()
      } catch (error) {
        wx.showToast({ title: `取消失败：${api.describe(error)}`, icon: 'none' })
      } finally {
        this.setData({ busy: false })
      }
    },

    openOrders() {
      wx.redirectTo({ url: '/pages/mall/orders' })
    },
  },
})

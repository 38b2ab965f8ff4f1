// Recharge the stored-value wallet: pick a package, pay with wx.requestPayment; the wallet is
// credited once WeChat Pay's notification reaches memberhub.
const api = require('../../utils/api')
const format = require('../../utils/format')

// After WeChat says paid, ask memberhub this often, this many times, whether it knows yet.
const POLL_MS = 1000
const POLLS = 15

function wait(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

Component({
  data: {
    balanceText: '', principalText: '', bonusText: '', packages: [], loaded: false,
    paying: null, payingText: '', error: '',
  },
  methods: {
    onShow() {
      return this.load()
    },

    async load() {
      try {
        const wallet = await api.get('/wallet')
        this.setData({
          balanceText: format.yuan(wallet.total_fen),
          principalText: format.yuan(wallet.principal_fen),
          bonusText: format.yuan(wallet.bonus_fen),
          packages: wallet.packages.filter((p) => p.active).map((p) => ({
            ...p, payText: format.yuan(p.pay_fen), receiveText: format.yuan(p.receive_fen),
          })),
          loaded: true,
          error: '',
        })
      } catch (error) {
        this.setData({ error: `加载失败：${api.describe(error)}`, loaded: true })
      }
    },

    async recharge(event) {
      if (this.data.paying) return
      const packageId = Number(event.currentTarget.dataset.id)
      let order
      try {
        order = await api.post('/wallet/recharge', { package_id: packageId, provider: 'wechat' })
      } catch (error) {
        wx.showToast({ title: `下单失败：${api.describe(error)}`, icon: 'none' })
        return
      }
      this.setData({
        paying: { payment_id: order.payment_id, out_trade_no: order.out_trade_no },
        payingText: `正在支付 ${format.yuan(order.amount_fen)}，订单号 ${order.out_trade_no}`,
      })
      const { appId, ...params } = order.pay_params
      wx.requestPayment({
        ...params,
        success: () => this.afterPaid(order.payment_id),
        fail: () => {
          this.setData({ paying: null, payingText: '' })
          wx.showToast({ title: '支付未完成', icon: 'none' })
        },
      })
    },

    async afterPaid(paymentId) {
      this.setData({ payingText: '支付成功，正在入账…' })
      for (let i = 0; i < POLLS; i += 1) {
        const payment = await api.get(`/me/payments/${paymentId}`)
        if (payment.state === 'paid') break
        await wait(POLL_MS)
      }
      this.setData({ paying: null, payingText: '' })
      wx.showToast({ title: '充值成功', icon: 'success' })
      await this.load()
    },
  },
})

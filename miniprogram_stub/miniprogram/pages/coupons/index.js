// The coupon center (claim) and the coupon wallet (what I hold, available).
const api = require('../../utils/api')
const format = require('../../utils/format')

Component({
  data: { tab: 'center', offers: [], coupons: [], loaded: false, claiming: 0, error: '' },
  methods: {
    onLoad(query) {
      if (query && query.tab === 'mine') this.setData({ tab: 'mine' })
    },
    onShow() {
      return this.load()
    },

    switchTab(event) {
      this.setData({ tab: event.currentTarget.dataset.tab })
      return this.load()
    },

    async load() {
      this.setData({ loaded: false, error: '' })
      try {
        if (this.data.tab === 'center') {
          const center = await api.get('/coupon-center')
          const offers = center.items.map((offer) => ({
            ...offer,
            valueText: format.couponValue(offer),
            validityText: offer.valid_days
              ? `领取后 ${offer.valid_days} 天内有效`
              : `有效期至 ${format.day(offer.valid_until)}`,
          }))
          this.setData({ offers, loaded: true })
        } else {
          const page = await api.get('/me/coupons?status=available')
          const coupons = page.items.map((coupon) => ({
            ...coupon,
            valueText: format.couponValue(coupon),
            untilText: format.day(coupon.valid_until),
          }))
          this.setData({ coupons, loaded: true })
        }
      } catch (error) {
        this.setData({ error: `加载失败：${api.describe(error)}`, loaded: true })
      }
    },

    async claim(event) {
      const templateId = Number(event.currentTarget.dataset.id)
      this.setData({ claiming: templateId })
      try {
        await api.post(`/coupon-templates/${templateId}/claim`, {}, {
          'Idempotency-Key': api.idempotencyKey(),
        })
        wx.showToast({ title: '领取成功', icon: 'success' })
        this.setData({ tab: 'mine' })
        await this.load()
      } catch (error) {
        wx.showToast({ title: `领取失败：${api.describe(error)}`, icon: 'none' })
      } finally {
        this.setData({ claiming: 0 })
      }
    },
  },
})

// The points mall: spend points on coupons (into the wallet) or gifts (collected at a store).
const api = require('../../utils/api')
const format = require('../../utils/format')

Component({
  data: { pointsAvailable: 0, items: [], loaded: false, exchanging: 0, error: '' },
  methods: {
    onShow() {
      return this.load()
    },

    async load() {
      try {
        const [shelf, member] = await Promise.all([api.get('/points-mall'), api.get('/me')])
        this.homeStoreId = member.home_store ? member.home_store.id : null
        const items = shelf.items.map((item) => ({
          ...item,
          detailText: item.coupon
            ? `${format.couponValue({ ...item.coupon, kind: item.coupon.kind })} · ${item.description || '兑换后放入券包'}`
            : `${item.description || '到店领取'} · 剩余 ${item.stock_left}`,
        }))
        this.setData({ pointsAvailable: shelf.points_available, items, loaded: true, error: '' })
      } catch (error) {
        this.setData({ error: `加载失败：${api.describe(error)}`, loaded: true })
      }
    },

    async exchange(event) {
      const { id, kind } = event.currentTarget.dataset
      const itemId = Number(id)
      const body = {}
      if (kind === 'gift') {
        if (!this.homeStoreId) {
          wx.showToast({ title: '请先到门店绑定会员，再兑换礼品', icon: 'none' })
          return
        }
        body.store_id = this.homeStoreId
      }
      this.setData({ exchanging: itemId })
      try {
        const exchange = await api.post(`/points-mall/${itemId}/exchange`, body, {
          'Idempotency-Key': api.idempotencyKey(),
        })
        wx.showToast({
          title: exchange.pickup_code ? `兑换成功，取货码 ${exchange.pickup_code}` : '兑换成功，券已放入券包',
          icon: 'none',
        })
        await this.load()
      } catch (error) {
        wx.showToast({ title: `兑换失败：${api.describe(error)}`, icon: 'none' })
      } finally {
        this.setData({ exchanging: 0 })
      }
    },
  },
})

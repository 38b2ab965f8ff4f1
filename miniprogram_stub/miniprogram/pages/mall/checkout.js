// Checkout of the cart's selected lines: delivered to an address or picked up at a store of the
// brand (the member's own first), one of the member's coupons, their points; memberhub prices the order (the preview,
// shown line by line) and creates it, and the order page takes the payment.
const api = require('../../utils/api')
const format = require('../../utils/format')
const mall = require('../../utils/mall')

const PHONE = /^1\d{10}$/

Component({
  data: {
    fulfilment: 'delivery',
    address: { name: '', phone: '', detail: '' },
    store: null,
    stores: [],
    lines: [],
    coupons: [],
    couponId: 0,
    pointsAvailable: 0,
    usePoints: false,
    preview: null,
    rows: [],
    payableText: '',
    previewNote: '',
    loaded: false,
    submitting: false,
    error: '',
  },
  methods: {
    onLoad() {
      return this.load()
    },

    async load() {
      try {
        const [member, cart, wallet, stores] = await Promise.all([
          api.get('/me'),
          api.get('/mall/cart'),
          api.get('/me/coupons?status=available&limit=100'),
          api.get('/mall/stores'),
        ])
        const home = member.home_store
          && stores.items.find((store) => store.id === member.home_store.id)
        this.setData({
          store: home || stores.items[0] || null,
          stores: stores.items.map((store) => ({ id: store.id, name: store.name, city: store.city })),
          pointsAvailable: member.points,
          lines: cart.items.filter((line) => line.selected).map((line) => ({
            id: line.id,
            name: line.name,
            specText: mall.specText(line.spec),
            quantity: line.quantity,
          })),
          coupons: wallet.items.map((coupon) => ({
            id: coupon.id,
            name: coupon.name,
            valueText: format.couponValue(coupon),
            untilText: format.day(coupon.valid_until),
          })),
          loaded: true,
        })
        await this.preview()
      } catch (error) {
        this.setData({ error: `加载失败：${api.describe(error)}`, loaded: true })
      }
    },

    /** The order as the page would send it; null while something it needs is missing. */
    order() {
      const body = {
        from_cart: true,
        fulfilment: this.data.fulfilment,
        coupon_ids: this.data.couponId ? [this.data.couponId] : [],
        points_to_use: this.data.usePoints ? this.data.pointsAvailable : 0,
      }
      if (this.data.fulfilment === 'pickup') {
        if (!this.data.store) return { missing: '暂无可自提的门店' }
        return { body: { ...body, store_id: this.data.store.id } }
      }
      const { name, phone, detail } = this.data.address
      if (!name || !detail || !PHONE.test(phone)) {
        return { missing: '填写收货人、手机号和地址后显示应付金额' }
      }
      return { body: { ...body, address: { name, phone, detail } } }
    },

    /** Ask memberhub what the order costs now; every amount shown is its answer. */
    async preview() {
      const { body, missing } = this.order()
      this.orderKey = null
      if (!body) {
        this.setData({ preview: null, rows: [], payableText: '', previewNote: missing })
        return
      }
      const asked = JSON.stringify(body)
      this.asked = asked
      try {
        const preview = await api.post('/mall/orders/preview', body)
        if (this.asked !== asked) return
        this.setData({
          preview,
          rows: mall.amountRows(preview.amounts, body.fulfilment),
          payableText: format.yuan(preview.amounts.payable_fen),
          previewNote: '',
        })
      } catch (error) {
        if (this.asked !== asked) return
        this.setData({ preview: null, rows: [], payableText: '', previewNote: api.describe(error) })
      }
    },

    chooseFulfilment(event) {
      this.setData({ fulfilment: event.currentTarget.dataset.value })
      return this.preview()
    },
    onAddress(event) {
      this.setData({ [`address.${event.currentTarget.dataset.field}`]: event.detail.value.trim() })
    },
    addressDone() {
      return this.preview()
    },
    chooseStore(event) {
      const id = Number(event.currentTarget.dataset.id)
      this.setData({ store: this.data.stores.find((store) => store.id === id) || null })
      return this.preview()
    },
    chooseCoupon(event) {
      this.setData({ couponId: Number(event.currentTarget.dataset.id) })
      return this.preview()
    },
    togglePoints(event) {
      this.setData({ usePoints: Boolean(event.detail.value) })
      return this.preview()
    },

    async submit() {
      const { body } = this.order()
      if (!body || !this.data.preview || this.data.submitting) return
      this.setData({ submitting: true })
      // One key per order attempt: a retry after a lost answer gets the same order back.
      this.orderKey = this.orderKey || api.idempotencyKey()
      try {
        const order = await api.post('/mall/orders', body, { 'Idempotency-Key': this.orderKey })
        wx.redirectTo({ url: `/pages/mall/order?id=${order.id}` })
      } catch (error) {
        wx.showToast({ title: `下单失败：${api.describe(error)}`, icon: 'none' })
        this.orderKey = null
        await this.preview()
      } finally {
        this.setData({ submitting: false })
      }
    },
  },
})

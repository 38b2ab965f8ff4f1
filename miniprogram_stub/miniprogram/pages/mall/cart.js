// The cart: change a line's quantity, select it for checkout or take it out; the total of the
// selected lines is memberhub's, at the member's level.
const api = require('../../utils/api')
const format = require('../../utils/format')
const mall = require('../../utils/mall')

const MAX_QUANTITY = 999

Component({
  data: { lines: [], totalText: '', selectedCount: 0, loaded: false, busy: false, error: '' },
  methods: {
    onShow() {
      return this.run(() => api.get('/mall/cart'))
    },

    show(cart) {
      const lines = cart.items.map((line) => ({
        id: line.id,
        name: line.name,
        image: line.image_url,
        specText: mall.specText(line.spec),
        priceText: format.yuan(line.price_fen),
        listText: line.price_fen < line.list_price_fen ? format.yuan(line.list_price_fen) : '',
        quantity: line.quantity,
        selected: line.selected,
        available: line.available,
      }))
      this.setData({
        lines,
        totalText: format.yuan(cart.selected_fen),
        selectedCount: lines.filter((line) => line.selected && line.available).length,
        loaded: true,
        error: '',
      })
    },

    /** One cart call at a time; the page shows the cart it answers. */
    async run(call) {
      if (this.data.busy) return
      this.setData({ busy: true })
      try {
        this.show(await call())
      } catch (error) {
        if (this.data.loaded) wx.showToast({ title: api.describe(error), icon: 'none' })
        else this.setData({ error: `加载失败：${api.describe(error)}`, loaded: true })
      } finally {
        this.setData({ busy: false })
      }
    },

    line(event) {
      return this.data.lines.find((line) => line.id === Number(event.currentTarget.dataset.id))
    },
    change(event, changes) {
      const { id } = event.currentTarget.dataset
      return this.run(() => api.patch(`/mall/cart/items/${id}`, changes))
    },

    toggle(event) {
      return this.change(event, { selected: !this.line(event).selected })
    },
    less(event) {
      const { quantity } = this.line(event)
      if (quantity <= 1) return Promise.resolve()
      return this.change(event, { quantity: quantity - 1 })
    },
    more(event) {
      const { quantity } = this.line(event)
      if (quantity >= MAX_QUANTITY) return Promise.resolve()
      return this.change(event, { quantity: quantity + 1 })
    },
    remove(event) {
      return this.run(() => api.del(`/mall/cart/items/${event.currentTarget.dataset.id}`))
    },

    checkout() {
      if (!this.data.selectedCount) return
      wx.navigateTo({ url: '/pages/mall/checkout' })
    },
    openShelf() {
      wx.navigateTo({ url: '/pages/mall/index' })
    },
  },
})

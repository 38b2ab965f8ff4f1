// One product: pick a SKU (its price at the member's level, as memberhub answers it), a
// quantity, and put it in the cart.
const api = require('../../utils/api')
const format = require('../../utils/format')
const mall = require('../../utils/mall')

const MAX_QUANTITY = 999

Component({
  data: {
    product: null, skus: [], chosen: -1, quantity: 1, levelName: '', cartCount: 0,
    adding: false, error: '',
  },
  methods: {
    onLoad(query) {
      this.productId = Number(query && query.id)
      return this.load()
    },

    async load() {
      try {
        const [product, member] = await Promise.all([
          api.get(`/mall/products/${this.productId}`),
          api.get('/me'),
        ])
        const skus = product.skus.map((sku) => ({
          id: sku.id,
          specText: mall.specText(sku.spec),
          priceText: format.yuan(sku.price_fen),
          listText: sku.price_fen < sku.list_price_fen ? format.yuan(sku.list_price_fen) : '',
          inStock: sku.in_stock,
        }))
        this.setData({
          product: {
            name: product.name, description: product.description, images: product.images,
          },
          skus,
          chosen: skus.findIndex((sku) => sku.inStock),
          levelName: member.level ? member.level.name : '',
          error: '',
        })
      } catch (error) {
        this.setData({ error: `加载失败：${api.describe(error)}` })
      }
    },

    choose(event) {
      const index = Number(event.currentTarget.dataset.index)
      if (!this.data.skus[index].inStock) return
      this.setData({ chosen: index, quantity: 1 })
    },
    less() {
      this.setData({ quantity: Math.max(1, this.data.quantity - 1) })
    },
    more() {
      this.setData({ quantity: Math.min(MAX_QUANTITY, this.data.quantity + 1) })
    },

    async addToCart() {
      const sku = this.data.skus[this.data.chosen]
      if (!sku || this.data.adding) return
      this.setData({ adding: true })
      try {
        const cart = await api.post('/mall/cart', { sku_id: sku.id, quantity: this.data.quantity })
        this.setData({ cartCount: cart.items.reduce((sum, line) => sum + line.quantity, 0) })
        wx.showToast({ title: '已加入购物车', icon: 'success' })
      } catch (error) {
        wx.showToast({ title: `加入失败：${api.describe(error)}`, icon: 'none' })
      } finally {
        this.setData({ adding: false })
      }
    },

    openCart() {
      wx.navigateTo({ url: '/pages/mall/cart' })
    },
  },
})

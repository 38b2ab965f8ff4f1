// The mall's shelf: search, the brand's categories (or a link naming one), one page at a time,
// every price at the member's level as memberhub answers it.
const api = require('../../utils/api')
const format = require('../../utils/format')

const PAGE_SIZE = 10

function shown(product) {
  const prices = product.skus.map((sku) => sku.price_fen)
  const lists = product.skus.map((sku) => sku.list_price_fen)
  const fromList = lists.length ? Math.min(...lists) : null
  return {
    id: product.id,
    name: product.name,
    image: product.images[0] || '',
    priceText: product.price_from_fen === null ? '暂无价格'
      : `${format.yuan(product.price_from_fen)}${new Set(prices).size > 1 ? ' 起' : ''}`,
    listText: fromList !== null && product.price_from_fen < fromList ? format.yuan(fromList) : '',
    soldOut: !product.skus.some((sku) => sku.in_stock),
  }
}

Component({
  data: {
    keyword: '', categoryId: 0, categoryName: '', categories: [], levelName: '', products: [],
    nextCursor: null, loaded: false, loading: false, error: '',
  },
  methods: {
    onLoad(query) {
      // A link into one category: /pages/mall/index?category_id=2&category=器具
      if (query && query.category_id) {
        this.setData({
          categoryId: Number(query.category_id),
          categoryName: decodeURIComponent(query.category || ''),
        })
      }
    },
    onShow() {
      return this.load()
    },
    onReachBottom() {
      return this.loadMore()
    },

    params(cursor) {
      const params = [`limit=${PAGE_SIZE}`]
      if (this.data.keyword) params.push(`q=${encodeURIComponent(this.data.keyword)}`)
      if (this.data.categoryId) params.push(`category_id=${this.data.categoryId}`)
      if (cursor) params.push(`cursor=${encodeURIComponent(cursor)}`)
      return params.join('&')
    },

    async load() {
      this.setData({ loading: true, error: '' })
      try {
        const [page, member, categories] = await Promise.all([
          api.get(`/mall/products?${this.params()}`),
          api.get('/me'),
          api.get('/mall/categories'),
        ])
        this.setData({
          categories: categories.items.map((category) => ({ id: category.id, name: category.name })),
          products: page.items.map(shown),
          nextCursor: page.next_cursor,
          levelName: member.level ? member.level.name : '',
          loaded: true,
        })
      } catch (error) {
        this.setData({ error: `加载失败：${api.describe(error)}`, loaded: true })
      } finally {
        this.setData({ loading: false })
      }
    },

    async loadMore() {
      if (!this.data.nextCursor || this.data.loading) return
      this.setData({ loading: true })
      try {
        const page = await api.get(`/mall/products?${this.params(this.data.nextCursor)}`)
        this.setData({
          products: this.data.products.concat(page.items.map(shown)),
          nextCursor: page.next_cursor,
        })
      } catch (error) {
        wx.showToast({ title: `加载失败：${api.describe(error)}`, icon: 'none' })
      } finally {
        this.setData({ loading: false })
      }
    },

    onKeyword(event) {
      this.setData({ keyword: event.detail.value.trim() })
    },
    search() {
      return this.load()
    },
    pickCategory(event) {
      const { id, name } = event.currentTarget.dataset
      this.setData({ categoryId: Number(id), categoryName: name })
      return this.load()
    },
    clearCategory() {
      this.setData({ categoryId: 0, categoryName: '' })
      return this.load()
    },

    openProduct(event) {
      wx.navigateTo({ url: `/pages/mall/product?id=${event.currentTarget.dataset.id}` })
    },
    openCart() {
      wx.navigateTo({ url: '/pages/mall/cart' })
    },
    openOrders() {
      wx.navigateTo({ url: '/pages/mall/orders' })
    },
  },
})

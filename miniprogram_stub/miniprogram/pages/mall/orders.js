// My mall orders, newest first, by state; a tap opens one.
const api = require('../../utils/api')
const format = require('../../utils/format')
const mall = require('../../utils/mall')

const PAGE_SIZE = 10
const TABS = [
  { state: '', name: '全部' },
  { state: 'pending_payment', name: '待支付' },
  { state: 'paid', name: '待发货' },
  { state: 'ready_for_pickup', name: '待自提' },
]

function shown(order) {
  const units = order.lines.reduce((sum, line) => sum + line.quantity, 0)
  const first = order.lines[0]
  return {
    id: order.id,
    stateText: mall.stateText(order.state),
    summary: first ? `${first.name}${order.lines.length > 1 ? ' 等' : ''} 共 ${units} 件` : '',
    fulfilmentText: order.fulfilment === 'pickup' ? '门店自提' : '快递配送',
    payableText: format.yuan(order.amounts.payable_fen),
    dayText: format.day(order.created_at),
  }
}

Component({
  data: {
    tabs: TABS, state: '', orders: [], nextCursor: null, loaded: false, loading: false, error: '',
  },
  methods: {
    onLoad(query) {
      if (query && query.state) this.setData({ state: query.state })
    },
    onShow() {
      return this.load()
    },
    onReachBottom() {
      return this.loadMore()
    },

    path(cursor) {
      const params = [`limit=${PAGE_SIZE}`]
      if (this.data.state) params.push(`state=${this.data.state}`)
      if (cursor) params.push(`cursor=${encodeURIComponent(cursor)}`)
      return `/mall/orders?${params.join('&')}`
    },

    async load() {
      this.setData({ loading: true, loaded: false, error: '' })
      try {
        const page = await api.get(this.path())
        this.setData({ orders: page.items.map(shown), nextCursor: page.next_cursor, loaded: true })
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
        const page = await api.get(this.path(this.data.nextCursor))
        this.setData({
          orders: this.data.orders.concat(page.items.map(shown)),
          nextCursor: page.next_cursor,
        })
      } catch (error) {
        wx.showToast({ title: `加载失败：${api.describe(error)}`, icon: 'none' })
      } finally {
        this.setData({ loading: false })
      }
    },

    switchTab(event) {
      this.setData({ state: event.currentTarget.dataset.state })
      return this.load()
    },
    openOrder(event) {
      wx.navigateTo({ url: `/pages/mall/order?id=${event.currentTarget.dataset.id}` })
    },
  },
})

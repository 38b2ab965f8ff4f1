// The member center: level and the progress to the next one, points, wallet, coupons, home
// store and guide; links to the other pages and the mall.
const api = require('../../utils/api')
const format = require('../../utils/format')

Component({
  data: {
    member: null,
    levelName: '',
    percent: 0,
    progressText: '',
    walletText: '',
    couponCount: '',
    benefits: '',
    error: '',
  },
  methods: {
    onShow() {
      if (!api.token()) {
        wx.reLaunch({ url: '/pages/login/index' })
        return Promise.resolve()
      }
      return this.load()
    },

    async load() {
      try {
        const [member, ladder, coupons] = await Promise.all([
          api.get('/me'),
          api.get('/levels'),
          api.get('/me/coupons?status=available&limit=100'),
        ])
        const step = format.progress(member, ladder.items)
        this.setData({
          member,
          levelName: member.level ? member.level.name : '普通会员',
          percent: step.percent,
          progressText: step.text,
          walletText: format.yuan(member.wallet.total_fen),
          couponCount: `${coupons.items.length}${coupons.next_cursor ? '+' : ''}`,
          benefits: member.level ? member.level.benefits.join('、') : '',
          error: '',
        })
      } catch (error) {
        this.setData({ error: `加载失败：${api.describe(error)}` })
      }
    },

    openCode() {
      wx.navigateTo({ url: '/pages/code/index' })
    },
    openCoupons() {
      wx.navigateTo({ url: '/pages/coupons/index' })
    },
    openPointsMall() {
      wx.navigateTo({ url: '/pages/points-mall/index' })
    },
    openRecharge() {
      wx.navigateTo({ url: '/pages/recharge/index' })
    },
    openShop() {
      wx.navigateTo({ url: '/pages/mall/index' })
    },
    openOrders() {
      wx.navigateTo({ url: '/pages/mall/orders' })
    },
  },
})

// Sign in with wx.login (and the store / guide scene the mini-program was opened with); a
// visitor becomes a member by binding their phone through getPhoneNumber.
const api = require('../../utils/api')
const wechat = require('../../utils/wechat')

const MEMBER_CENTER = '/pages/member/index'

Component({
  data: { step: 'loading', busy: false, error: '' },
  methods: {
    onLoad(query) {
      // A mini-program code (wxacode) hands its scene over URL-encoded: `s%3DSH001`.
      this.scene = query && query.scene ? decodeURIComponent(query.scene) : undefined
      return this.login()
    },

    async login() {
      this.setData({ step: 'loading', error: '' })
      try {
        const code = await wechat.loginCode()
        const body = { appid: wechat.appid(), code }
        if (this.scene) body.scene = this.scene
        const answer = await api.post('/auth/wxa/login', body)
        api.saveToken(answer.token)
        if (answer.is_member) wx.reLaunch({ url: MEMBER_CENTER })
        else this.setData({ step: 'phone' })
      } catch (error) {
        this.setData({ step: 'error', error: `登录失败：${api.describe(error)}` })
      }
    },

    async onGetPhoneNumber(event) {
      this.setData({ busy: true })
      try {
        const code = await wechat.phoneCode(event)
        const body = { code, appid: wechat.appid() }
        if (this.scene) body.scene = this.scene
        const answer = await api.post('/auth/wxa/phone', body)
        api.saveToken(answer.token)
        wx.reLaunch({ url: MEMBER_CENTER })
      } catch (error) {
        wx.showToast({ title: api.describe(error), icon: 'none' })
      } finally {
        this.setData({ busy: false })
      }
    },
  },
})

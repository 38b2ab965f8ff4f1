// The dynamic member code: QR and barcode from GET /me/code, fetched again before it expires.
const api = require('../../utils/api')
const format = require('../../utils/format')

// Asked for again this long before it expires (codes live 60 s by default), never sooner than
// the floor, so a short-lived code does not make the page spin.
const REFRESH_MARGIN_MS = 10000
const REFRESH_FLOOR_MS = 3000

Component({
  data: { code: '', expiresAt: 0, digits: '', qrSrc: '', barcodeSrc: '', expiryText: '', error: '' },
  methods: {
    onShow() {
      return this.refresh()
    },
    onHide() {
      this.stop()
    },
    onUnload() {
      this.stop()
    },

    stop() {
      if (this.timer) clearTimeout(this.timer)
      this.timer = null
    },

    async refresh() {
      this.stop()
      try {
        const answer = await api.get('/me/code')
        const expiresAt = new Date(answer.expires_at).getTime()
        this.setData({
          code: answer.code,
          digits: format.groupDigits(answer.code),
          qrSrc: `data:image/png;base64,${answer.qr_png_base64}`,
          barcodeSrc: `data:image/svg+xml;base64,${format.base64Ascii(answer.barcode_svg)}`,
          expiresAt,
          expiryText: `会员码自动刷新，${format.clock(expiresAt)} 前有效`,
          error: '',
        })
        const wait = Math.max(expiresAt - Date.now() - REFRESH_MARGIN_MS, REFRESH_FLOOR_MS)
        this.timer = setTimeout(() => this.refresh(), wait)
      } catch (error) {
        this.setData({ error: `会员码获取失败：${api.describe(error)}` })
      }
    },
  },
})

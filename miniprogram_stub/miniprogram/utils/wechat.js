// The codes WeChat hands the mini-program: wx.login's and getPhoneNumber's. With
// config.sandboxCodes (development), memberhub's sandbox plays WeChat and hands them out instead.
const config = require('../config')
const api = require('./api')

const SANDBOX_OPENID_KEY = 'memberhub.sandbox.openid'
const SANDBOX_PHONE_KEY = 'memberhub.sandbox.phone'

function appid() {
  return config.appid || wx.getAccountInfoSync().miniProgram.appId
}

function sandbox(path, data) {
  return api.call('POST', `${api.base()}/sandbox/wechat${path}`, data, {})
}

/** A one-time login code for POST /auth/wxa/login. */
async function loginCode() {
  if (config.sandboxCodes) {
    // The same sandbox user each time on this device, as WeChat keeps one user per phone.
    const openid = wx.getStorageSync(SANDBOX_OPENID_KEY) || undefined
    const answer = await sandbox('/login-codes', { appid: appid(), openid })
    wx.setStorageSync(SANDBOX_OPENID_KEY, answer.openid)
    return answer.code
  }
  return new Promise((resolve, reject) => {
    wx.login({
      success: (res) => (res.code ? resolve(res.code) : reject(new Error('微信登录失败'))),
      fail: (err) => reject(new Error(`微信登录失败：${err.errMsg || ''}`)),
    })
  })
}

/** The one-time code of a getPhoneNumber button's event, for POST /auth/wxa/phone. */
async function phoneCode(event) {
  if (config.sandboxCodes) {
    let phone = wx.getStorageSync(SANDBOX_PHONE_KEY)
    if (!phone) {
      phone = `139${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`
      wx.setStorageSync(SANDBOX_PHONE_KEY, phone)
    }
    return (await sandbox('/phone-codes', { appid: appid(), phone })).code
  }
  const code = event && event.detail && event.detail.code
  if (!code) throw new Error('需要授权手机号才能成为会员')
  return code
}

module.exports = { appid, loginCode, phoneCode }

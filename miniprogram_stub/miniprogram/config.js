// The mini-program's settings: where memberhub is, and how codes are obtained in development.
module.exports = {
  // memberhub's address; `make run` serves on http://127.0.0.1:8000 (project.config.json has
  // urlCheck: false, so the developer tools allow plain HTTP to it). In production: the brand's
  // https address, listed among the mini-program's request domains.
  apiBase: 'http://127.0.0.1:8000',
  // The mini-program's appid as memberhub knows it (`memberhub bootstrap-demo` prints it).
  // Empty: the appid of the running mini-program (wx.getAccountInfoSync()).
  appid: 'wxdeadbeef00000001',
  // Development: take the wx.login and getPhoneNumber codes from memberhub's sandbox
  // (/sandbox/wechat/login-codes, /sandbox/wechat/phone-codes), because codes WeChat hands the
  // developer tools are unknown to the sandbox. Must be false for a real appid.
  sandboxCodes: true,
}

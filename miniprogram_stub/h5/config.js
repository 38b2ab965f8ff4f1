// The H5 member center's settings. Served by memberhub under /h5/ (with the sandbox), every
// value may stay empty; deployed as static files on a brand's own host, fill them in.
export default {
  // memberhub's address, e.g. "https://api.brand.example". Empty: the host serving this page,
  // and then `?api=` in the page's address may name another (handy in development).
  apiBase: '',
  // The official account's appid. Empty: `?appid=` in the page's address (memberhub's
  // /h5/member?brand=<code> link fills it in).
  appid: '',
  // Where WeChat's authorize page lives: "https://open.weixin.qq.com" in production. Empty:
  // memberhub's sandbox, `${apiBase}/sandbox/wechat`.
  oauthBase: '',
  // snsapi_base signs the visitor in silently; snsapi_userinfo asks for their profile.
  scope: 'snsapi_base',
}

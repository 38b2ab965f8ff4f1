// How amounts, coupons, levels and times read in the pages.

/** 12345 fen → "¥123.45" */
function yuan(fen) {
  const sign = fen < 0 ? '-' : ''
  const abs = Math.abs(fen)
  return `${sign}¥${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}

function shortYuan(fen) {
  return fen % 100 === 0 ? String(fen / 100) : (fen / 100).toFixed(2)
}

/** What a coupon is worth, as a person reads it: 满100减10, 8.5折, 免运费 … */
function couponValue(coupon) {
  switch (coupon.kind) {
    case 'cash_off':
      return coupon.threshold_fen > 0
        ? `满${shortYuan(coupon.threshold_fen)}减${shortYuan(coupon.value_fen)}`
        : `${shortYuan(coupon.value_fen)}元无门槛`
    case 'percent_off':
      return `${(100 - coupon.percent_off) / 10}折`
    case 'free_delivery':
      return '免运费'
    case 'gift':
      return '赠品券'
    default:
      return ''
  }
}

/** An ISO time → "2025-06-30" in China time. */
function day(iso) {
  if (!iso) return ''
  const shifted = new Date(new Date(iso).getTime() + 8 * 3600 * 1000)
  return shifted.toISOString().slice(0, 10)
}

/** A time (ms since the epoch) → "12:01:00" in China time. */
function clock(ms) {
  return new Date(ms + 8 * 3600 * 1000).toISOString().slice(11, 19)
}

/** The member code's 18 digits in groups of four. */
function groupDigits(code) {
  return code.replace(/(\d{4})(?=\d)/g, '$1 ')
}

/** Where the member stands on the ladder: the next level, how far, and a sentence saying it. */
function progress(member, ladder) {
  const next = ladder.find((step) => step.growth_threshold > member.growth)
  if (!next) return { percent: 100, text: `成长值 ${member.growth}，已是最高等级` }
  const current = ladder.filter((step) => step.growth_threshold <= member.growth).pop()
  const from = current ? current.growth_threshold : 0
  const span = Math.max(next.growth_threshold - from, 1)
  const percent = Math.min(100, Math.max(0, Math.floor(((member.growth - from) * 100) / span)))
  const missing = next.growth_threshold - member.growth
  return {
    percent,
    text: `成长值 ${member.growth} / ${next.growth_threshold}，再 ${missing} 升级为${next.name}`,
  }
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** base64 of an ASCII text (an SVG document), for a data URL an <image> can show. */
function base64Ascii(text) {
  let out = ''
  for (let i = 0; i < text.length; i += 3) {
    const a = text.charCodeAt(i)
    const b = i + 1 < text.length ? text.charCodeAt(i + 1) : NaN
    const c = i + 2 < text.length ? text.charCodeAt(i + 2) : NaN
    const triple = (a << 16) | ((b || 0) << 8) | (c || 0)
    out += BASE64[(triple >> 18) & 63] + BASE64[(triple >> 12) & 63]
    out += Number.isNaN(b) ? '=' : BASE64[(triple >> 6) & 63]
    out += Number.isNaN(c) ? '=' : BASE64[triple & 63]
  }
  return out
}

module.exports = { base64Ascii, clock, couponValue, day, groupDigits, progress, shortYuan, yuan }

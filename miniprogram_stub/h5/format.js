// How amounts, coupons and times read on the page.

/** 12345 fen → "¥123.45" */
export function yuan(fen) {
  const sign = fen < 0 ? '-' : ''
  const abs = Math.abs(fen)
  const cents = String(abs % 100).padStart(2, '0')
  return `${sign}¥${Math.floor(abs / 100)}.${cents}`
}

function shortYuan(fen) {
  return fen % 100 === 0 ? String(fen / 100) : (fen / 100).toFixed(2)
}

/** What a coupon is worth, as a person reads it: 满100减10, 8.5折, 免运费 … */
export function couponValue(coupon) {
  switch (coupon.kind) {
    case 'cash_off':
      return coupon.threshold_fen > 0
        ? `满${shortYuan(coupon.threshold_fen)}减${shortYuan(coupon.value_fen)}`
        : `${shortYuan(coupon.value_fen)}元无门槛`
    case 'percent_off': {
      const text = `${(100 - coupon.percent_off) / 10}折`
      return coupon.cap_fen ? `${text}（最多减${shortYuan(coupon.cap_fen)}元）` : text
    }
    case 'free_delivery':
      return '免运费'
    case 'gift':
      return '赠品券'
    default:
      return ''
  }
}

/** "2025-06-30T23:59:59+08:00" → "2025-06-30" (China time) */
export function day(iso) {
  if (!iso) return ''
  const date = new Date(iso)
  return new Intl.DateTimeFormat('zh-CN', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  }).format(date).replaceAll('/', '-')
}

/** "2025-06-30T23:59:59+08:00" → "2025-06-30 23:59" (China time) */
export function minute(iso) {
  if (!iso) return ''
  const parts = new Intl.DateTimeFormat('zh-CN', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hour12: false,
  }).format(new Date(iso))
  return parts.replaceAll('/', '-')
}

/** The member code's 18 digits in groups of four, as they are read aloud at the till. */
export function groupDigits(code) {
  return code.replace(/(\d{4})(?=\d)/g, '$1 ')
}

const ENTRY_KINDS = {
  earn: '消费得积分', spend: '积分消费', expire: '积分过期', adjust: '积分调整',
  reverse: '积分退回', merge_in: '账户合并转入', merge_out: '账户合并转出',
}

/** A points ledger entry's title: its reason, else what kind of entry it is. */
export function entryTitle(entry) {
  return entry.reason || ENTRY_KINDS[entry.kind] || entry.kind
}

/** Where the member stands on the ladder: the next level and how far it is. */
export function progress(member, ladder) {
  const next = ladder.find((step) => step.growth_threshold > member.growth)
  if (!next) return { next: null, percent: 100, missing: 0 }
  const current = [...ladder].reverse().find((step) => step.growth_threshold <= member.growth)
  const from = current ? current.growth_threshold : 0
  const span = Math.max(next.growth_threshold - from, 1)
  const percent = Math.min(100, Math.max(0, Math.floor(((member.growth - from) * 100) / span)))
  return { next, percent, missing: next.growth_threshold - member.growth }
}

import type { StoreCost } from '../providers/types.js'
import { formatDuration } from './interval.js'

/** What an interval costs a fleet at one store. */
export interface FleetCost extends StoreCost {
  instances: number
  intervalMs: number
  perSecond: number
  perMonth: number
  /** share of the store's documented quota, in % */
  quotaPercent: number
}

const SECONDS_PER_MONTH = 30 * 24 * 3600

export function fleetCosts (costs: readonly StoreCost[], intervalMs: number, instances: number): FleetCost[] {
  return costs.map((c) => {
    const perSecond = (instances * c.requests) / (intervalMs / 1000)
    const quotaPercent = (perSecond * c.quota.perSeconds / c.quota.requests) * 100
    return { ...c, instances, intervalMs, perSecond, perMonth: perSecond * SECONDS_PER_MONTH, quotaPercent }
  })
}

function quotaText (q: StoreCost['quota']): string {
  const per = q.perSeconds === 1 ? 's' : q.perSeconds === 60 ? 'min' : `${q.perSeconds} s`
  return `${q.requests.toLocaleString('en-US')} ${q.name} per ${per} ${q.scope}`
}

export function formatRate (n: number): string {
  if (n >= 100) return Math.round(n).toLocaleString('en-US')
  if (n >= 1) return (Math.round(n * 10) / 10).toString()
  return (Math.round(n * 1000) / 1000).toString()
}

export function formatPercent (n: number): string {
  return n >= 10 ? `${Math.round(n)} %` : `${Math.round(n * 10) / 10} %`
}

/** One line per store, e.g. "Key Vault myvault…: 1 list page per cycle → 1,000 instances: 1.1 requests/s, 2.9 M/month, 0.3 % of 4,000 …" */
export function describeFleetCost (cost: FleetCost): string {
  const month = cost.perMonth >= 1e6 ? `${formatRate(cost.perMonth / 1e6)} M` : formatRate(cost.perMonth)
  return `${cost.store}: ${cost.calls} every ${formatDuration(cost.intervalMs)} → ${cost.instances.toLocaleString('en-US')} instance${cost.instances === 1 ? '' : 's'}: ${formatRate(cost.perSecond)} requests/s, ${month} requests/month, ${formatPercent(cost.quotaPercent)} of ${quotaText(cost.quota)}`
}

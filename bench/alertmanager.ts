/** Alertmanager v4 webhook payloads, as the stack's Alertmanager sends them to the intake. */

export interface AmAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

/** Alert names the storm cycles through (P1-1, P1-2, P1-3: metric-driven runbooks). */
export const STORM_ALERTS = ['HighErrorRate', 'HighLatency', 'QueueOverflow'] as const;

export function amAlert(
  alertname: string,
  service: string,
  instance: number,
  status: 'firing' | 'resolved',
): AmAlert {
  const startsAt = new Date(Date.now() - 60_000).toISOString();
  return {
    status,
    labels: { alertname, service, severity: 'P1', instance: `10.0.0.${instance}:9100` },
    annotations: { summary: `${alertname} on ${service}`, value: '0.07' },
    startsAt,
    endsAt: status === 'resolved' ? new Date().toISOString() : '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus.local/graph',
    fingerprint: `${alertname}/${service}/${instance}`,
  };
}

/** One Alertmanager notification: the whole group (alertname + service), as Alertmanager sends it. */
export function amGroup(alerts: AmAlert[]) {
  const { alertname, service } = alerts[0].labels;
  return {
    version: '4',
    groupKey: `{}:{alertname="${alertname}", service="${service}"}`,
    truncatedAlerts: 0,
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    receiver: 'accubooks-runbooks',
    groupLabels: { alertname, service },
    commonLabels: { alertname, service, severity: 'P1' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.local',
    alerts,
  };
}

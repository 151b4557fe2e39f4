/**
 * Scrape jobs equivalent to what prometheus-operator generates from our ServiceMonitors: the
 * targets get `namespace`, `service`, `pod` and `container` labels, and exporters' own labels of
 * those names become `exported_*` (honor_labels false), so every query works in both modes.
 */
export function bundledPrometheusConfig(namespace: string): Record<string, unknown> {
  const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
  return {
    global: { scrape_interval: '15s', evaluation_interval: '15s' },
    rule_files: ['/etc/prometheus/rules/*.yaml'],
    scrape_configs: [
      {
        job_name: 'kubernetes-service-endpoints',
        honor_labels: false,
        kubernetes_sd_configs: [{ role: 'endpoints' }],
        relabel_configs: [
          {
            source_labels: ['__meta_kubernetes_service_annotation_prometheus_io_scrape'],
            action: 'keep',
            regex: 'true',
          },
          {
            source_labels: ['__meta_kubernetes_service_name'],
            action: 'drop',
            regex: 'kube-state-metrics',
          },
          {
            source_labels: ['__meta_kubernetes_service_annotation_prometheus_io_path'],
            target_label: '__metrics_path__',
            regex: '(.+)',
          },
          {
            source_labels: ['__address__', '__meta_kubernetes_service_annotation_prometheus_io_port'],
            regex: '(.+?)(?::\\d+)?;(\\d+)',
            replacement: '$1:$2',
            target_label: '__address__',
          },
          { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
          { source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' },
          { source_labels: ['__meta_kubernetes_service_name'], target_label: 'job' },
          { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
          { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
        ],
      },
      {
        // kube-state-metrics describes other pods: its namespace/pod labels must win (as
        // kube-prometheus-stack's honorLabels: true does).
        job_name: 'kube-state-metrics',
        honor_labels: true,
        kubernetes_sd_configs: [{ role: 'endpoints', namespaces: { names: [namespace] } }],
        relabel_configs: [
          {
            source_labels: ['__meta_kubernetes_service_name'],
            action: 'keep',
            regex: 'kube-state-metrics',
          },
          {
            source_labels: ['__meta_kubernetes_endpoint_port_name'],
            action: 'keep',
            regex: 'http-metrics',
          },
        ],
      },
      {
        // cAdvisor through the kubelet: container CPU and memory for the dashboards.
        job_name: 'kubelet-cadvisor',
        scheme: 'https',
        metrics_path: '/metrics/cadvisor',
        kubernetes_sd_configs: [{ role: 'node' }],
        tls_config: { ca_file: `${sa}/ca.crt`, insecure_skip_verify: true },
        authorization: { credentials_file: `${sa}/token` },
      },
    ],
  };
}

/**
 * A Prometheus scrape job generated from a synthesized ServiceMonitor, the way prometheus-operator
 * generates it, with Kubernetes service discovery replaced by static loopback targets that carry the
 * meta labels `kubernetes_sd` (role: endpoints) would give each pod's endpoint. Prometheus itself then
 * applies the operator's relabelings (selector and port keeps, namespace/service/pod/container/job/
 * endpoint labels) and the ServiceMonitor's own relabelings and metricRelabelings, so queries see the
 * labels they would see in a cluster — and a selector or port name that does not line up drops the
 * target here as it would there.
 *
 * Upstream: prometheus-operator pkg/prometheus/promcfg.go generateServiceMonitorConfig (job name
 * `serviceMonitor/<ns>/<name>/<i>`, the relabeling order) and Prometheus discovery/kubernetes
 * endpoints.go (the `__meta_kubernetes_*` labels).
 */

export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
  };
  readonly spec?: unknown;
}

interface RelabelConfig {
  readonly sourceLabels?: readonly string[];
  readonly separator?: string;
  readonly targetLabel?: string;
  readonly regex?: string;
  readonly modulus?: number;
  readonly replacement?: string;
  readonly action?: string;
}

interface ServiceMonitorEndpoint {
  readonly port?: string;
  readonly targetPort?: string | number;
  readonly path?: string;
  readonly scheme?: string;
  readonly params?: Record<string, string[]>;
  readonly interval?: string;
  readonly scrapeTimeout?: string;
  readonly honorLabels?: boolean;
  readonly honorTimestamps?: boolean;
  readonly relabelings?: readonly RelabelConfig[];
  readonly metricRelabelings?: readonly RelabelConfig[];
}

interface LabelSelector {
  readonly matchLabels?: Record<string, string>;
  readonly matchExpressions?: readonly { key: string; operator: string; values?: string[] }[];
}

interface ServiceMonitorSpec {
  readonly selector: LabelSelector;
  readonly namespaceSelector?: { readonly any?: boolean; readonly matchNames?: readonly string[] };
  readonly endpoints: readonly ServiceMonitorEndpoint[];
  readonly jobLabel?: string;
  readonly targetLabels?: readonly string[];
  readonly podTargetLabels?: readonly string[];
}

interface ServiceSpec {
  readonly selector?: Record<string, string>;
  readonly ports: readonly { name?: string; port: number; targetPort?: string | number; protocol?: string }[];
}

interface PodTemplate {
  readonly metadata?: { labels?: Record<string, string> };
  readonly spec: {
    readonly containers: readonly {
      name: string;
      ports?: readonly { name?: string; containerPort: number; protocol?: string }[];
    }[];
  };
}

/** A server process standing in for one pod of the Deployment. */
export interface LoopbackPod {
  readonly name: string;
  readonly namespace: string;
  /** `127.0.0.1:<port>` where this pod's server listens. */
  readonly address: string;
}

export function sanitizeLabelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

function relabel(configs: readonly RelabelConfig[] = []): Record<string, unknown>[] {
  return configs.map((c) => {
    const out: Record<string, unknown> = {};
    if (c.sourceLabels?.length) out.source_labels = c.sourceLabels;
    if (c.separator) out.separator = c.separator;
    if (c.targetLabel) out.target_label = c.targetLabel;
    if (c.regex) out.regex = c.regex;
    if (c.modulus) out.modulus = c.modulus;
    if (c.replacement !== undefined) out.replacement = c.replacement;
    if (c.action) out.action = c.action.toLowerCase();
    return out;
  });
}

function selectorRelabelings(selector: LabelSelector): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const key of Object.keys(selector.matchLabels ?? {}).sort()) {
    const k = sanitizeLabelName(key);
    out.push({
      action: 'keep',
      source_labels: [`__meta_kubernetes_service_label_${k}`, `__meta_kubernetes_service_labelpresent_${k}`],
      regex: `(${selector.matchLabels![key]});true`,
    });
  }
  for (const exp of selector.matchExpressions ?? []) {
    const k = sanitizeLabelName(exp.key);
    const both = [`__meta_kubernetes_service_label_${k}`, `__meta_kubernetes_service_labelpresent_${k}`];
    const values = `(${(exp.values ?? []).join('|')});true`;
    const present = [`__meta_kubernetes_service_labelpresent_${k}`];
    if (exp.operator === 'In') out.push({ action: 'keep', source_labels: both, regex: values });
    else if (exp.operator === 'NotIn') out.push({ action: 'drop', source_labels: both, regex: values });
    else if (exp.operator === 'Exists') out.push({ action: 'keep', source_labels: present, regex: 'true' });
    else if (exp.operator === 'DoesNotExist')
      out.push({ action: 'drop', source_labels: present, regex: 'true' });
    else
      throw new Error(
        `ServiceMonitor selector operator ${JSON.stringify(exp.operator)} is not a label selector operator`,
      );
  }
  return out;
}

function labelsWithPresence(prefix: string, labels: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    out[`${prefix}_label_${sanitizeLabelName(key)}`] = value;
    out[`${prefix}_labelpresent_${sanitizeLabelName(key)}`] = 'true';
  }
  return out;
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return !!selector && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export interface ScrapeJobOptions {
  readonly serviceMonitor: K8sObject;
  readonly service: K8sObject;
  /** The Deployment's pod template (labels, containers and their ports). */
  readonly podTemplate: PodTemplate;
  readonly pods: readonly LoopbackPod[];
  /**
   * Replaces the endpoints' `interval`/`scrapeTimeout` so the test runs in minutes; the only change
   * made to what the ServiceMonitor says.
   */
  readonly intervalOverride?: string;
}

/**
 * The scrape jobs prometheus-operator would generate for the ServiceMonitor, one per endpoint, with
 * one static target per pod and Service port — the endpoints the Service would have. A pod the
 * Service does not select, or a namespace the ServiceMonitor does not watch, has no targets.
 */
export function serviceMonitorScrapeConfigs(options: ScrapeJobOptions): Record<string, unknown>[] {
  const { serviceMonitor, service, podTemplate, pods } = options;
  if (serviceMonitor.kind !== 'ServiceMonitor') {
    throw new Error(`expected a ServiceMonitor, got kind ${JSON.stringify(serviceMonitor.kind)}`);
  }
  const spec = serviceMonitor.spec as ServiceMonitorSpec;
  const svcSpec = service.spec as ServiceSpec;
  const smNamespace = serviceMonitor.metadata.namespace ?? 'default';
  const svcNamespace = service.metadata.namespace ?? 'default';
  const podLabels = podTemplate.metadata?.labels ?? {};
  const watched = spec.namespaceSelector?.any
    ? undefined
    : spec.namespaceSelector?.matchNames?.length
      ? spec.namespaceSelector.matchNames
      : [smNamespace];

  // kubernetes_sd role=endpoints: one target per (ready pod address, Service port).
  const targets: { targets: string[]; labels: Record<string, string> }[] = [];
  const serviceSelectsPods = selects(svcSpec.selector, podLabels);
  for (const pod of pods) {
    if (!serviceSelectsPods || pod.namespace !== svcNamespace) continue;
    if (watched && !watched.includes(pod.namespace)) continue;
    for (const port of svcSpec.ports) {
      const targetPort = port.targetPort ?? port.port;
      let containerName: string | undefined;
      let containerPort: { name?: string; containerPort: number; protocol?: string } | undefined;
      for (const c of podTemplate.spec.containers) {
        const found = (c.ports ?? []).find((p) =>
          typeof targetPort === 'number' ? p.containerPort === targetPort : p.name === targetPort,
        );
        if (found) {
          containerName = c.name;
          containerPort = found;
          break;
        }
      }
      if (!containerPort) continue; // a named targetPort no container declares: no endpoint
      const labels: Record<string, string> = {
        __meta_kubernetes_namespace: pod.namespace,
        __meta_kubernetes_endpoints_name: service.metadata.name,
        __meta_kubernetes_endpoint_port_name: port.name ?? '',
        __meta_kubernetes_endpoint_port_protocol: port.protocol ?? 'TCP',
        __meta_kubernetes_endpoint_ready: 'true',
        __meta_kubernetes_endpoint_address_target_kind: 'Pod',
        __meta_kubernetes_endpoint_address_target_name: pod.name,
        __meta_kubernetes_service_name: service.metadata.name,
        ...labelsWithPresence('__meta_kubernetes_service', service.metadata.labels),
        __meta_kubernetes_pod_name: pod.name,
        __meta_kubernetes_pod_ready: 'true',
        __meta_kubernetes_pod_phase: 'Running',
        __meta_kubernetes_pod_container_name: containerName!,
        __meta_kubernetes_pod_container_port_name: containerPort.name ?? '',
        __meta_kubernetes_pod_container_port_number: String(containerPort.containerPort),
        __meta_kubernetes_pod_container_port_protocol: containerPort.protocol ?? 'TCP',
        ...labelsWithPresence('__meta_kubernetes_pod', podLabels),
      };
      targets.push({ targets: [pod.address], labels });
    }
  }

  return spec.endpoints.map((ep, i) => {
    const job: Record<string, unknown> = {
      job_name: `serviceMonitor/${smNamespace}/${serviceMonitor.metadata.name}/${i}`,
      honor_labels: ep.honorLabels ?? false,
    };
    if (ep.honorTimestamps !== undefined) job.honor_timestamps = ep.honorTimestamps;
    job.static_configs = targets;
    const interval = options.intervalOverride ?? ep.interval;
    if (interval) job.scrape_interval = interval;
    const timeout = options.intervalOverride ?? ep.scrapeTimeout;
    if (timeout) job.scrape_timeout = timeout;
    if (ep.path) job.metrics_path = ep.path;
    if (ep.params) job.params = ep.params;
    if (ep.scheme) job.scheme = ep.scheme;

    const relabelings: Record<string, unknown>[] = [
      { source_labels: ['job'], target_label: '__tmp_prometheus_job_name' },
      ...selectorRelabelings(spec.selector),
    ];
    if (ep.port) {
      relabelings.push({
        action: 'keep',
        source_labels: ['__meta_kubernetes_endpoint_port_name'],
        regex: ep.port,
      });
    } else if (typeof ep.targetPort === 'string') {
      relabelings.push({
        action: 'keep',
        source_labels: ['__meta_kubernetes_pod_container_port_name'],
        regex: ep.targetPort,
      });
    } else if (typeof ep.targetPort === 'number') {
      relabelings.push({
        action: 'keep',
        source_labels: ['__meta_kubernetes_pod_container_port_number'],
        regex: String(ep.targetPort),
      });
    }
    const kindName = [
      '__meta_kubernetes_endpoint_address_target_kind',
      '__meta_kubernetes_endpoint_address_target_name',
    ];
    relabelings.push(
      {
        source_labels: kindName,
        separator: ';',
        regex: 'Node;(.*)',
        replacement: '${1}',
        target_label: 'node',
      },
      {
        source_labels: kindName,
        separator: ';',
        regex: 'Pod;(.*)',
        replacement: '${1}',
        target_label: 'pod',
      },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
    );
    for (const l of spec.targetLabels ?? []) {
      const k = sanitizeLabelName(l);
      relabelings.push({
        source_labels: [`__meta_kubernetes_service_label_${k}`],
        target_label: k,
        regex: '(.+)',
        replacement: '${1}',
      });
    }
    for (const l of spec.podTargetLabels ?? []) {
      const k = sanitizeLabelName(l);
      relabelings.push({
        source_labels: [`__meta_kubernetes_pod_label_${k}`],
        target_label: k,
        regex: '(.+)',
        replacement: '${1}',
      });
    }
    relabelings.push({
      source_labels: ['__meta_kubernetes_service_name'],
      target_label: 'job',
      replacement: '${1}',
    });
    if (spec.jobLabel) {
      relabelings.push({
        source_labels: [`__meta_kubernetes_service_label_${sanitizeLabelName(spec.jobLabel)}`],
        target_label: 'job',
        regex: '(.+)',
        replacement: '${1}',
      });
    }
    const endpointName = ep.port ?? (ep.targetPort !== undefined ? String(ep.targetPort) : undefined);
    if (endpointName) relabelings.push({ target_label: 'endpoint', replacement: endpointName });
    relabelings.push(...relabel(ep.relabelings));
    job.relabel_configs = relabelings;
    job.metric_relabel_configs = relabel(ep.metricRelabelings);
    return job;
  });
}

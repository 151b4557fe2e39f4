/** The planner's public API: the HPA computation (for the simulator and for the cluster tests) and the simulator. */
export * from '../constructs/autoscaling-v2/index.ts';
export * from './hpa/replica-calculator.ts';
export * from './hpa/normalize.ts';
export * from './hpa/spec.ts';
export * from './hpa/controller.ts';
export * from './hpa/pod-object.ts';
export * from './hpa/prometheus.ts';

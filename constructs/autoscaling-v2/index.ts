/**
 * The autoscaling/v2 model, in one place as kubernetes keeps it in one package: the API shapes,
 * their defaults, the int32 limits, the API server's validation and the quantity grammar. GpuHpa,
 * its backends, the planner and the tests import it; it imports nothing of cdk8s.
 */
export * from './limits.ts';
export * from './quantity.ts';
export * from './types.ts';
export * from './defaults.ts';
export * from './validation.ts';

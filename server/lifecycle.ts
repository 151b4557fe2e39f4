/**
 * Server-wide state for the probes and for draining: starting -> ready -> draining. Liveness never
 * looks at it; readiness answers 200 only in `ready`.
 */
export class Lifecycle {
  private phase: 'starting' | 'ready' | 'draining' = 'starting';
  private active = 0;

  /** Extra condition for readiness (e.g. strict readiness: every model READY). */
  constructor(private readonly modelsReady: () => string | undefined = () => undefined) {}

  /** undefined when ready, otherwise why not. */
  notReadyReason(): string | undefined {
    if (this.phase === 'starting') return 'models are loading';
    if (this.phase === 'draining') return 'server is shutting down';
    return this.modelsReady();
  }

  get draining(): boolean {
    return this.phase === 'draining';
  }

  get inflight(): number {
    return this.active;
  }

  markReady(): void {
    if (this.phase === 'starting') this.phase = 'ready';
  }

  markDraining(): void {
    this.phase = 'draining';
  }

  requestStarted(): void {
    this.active++;
  }

  requestFinished(): void {
    this.active--;
  }
}

/**
 * The API's own background traffic: GET /api/work at a steady rate, so the pool, the latency
 * histogram and the error rate move without an outside load generator.
 */
import { request as httpRequest, Agent } from 'node:http';
import { ROUTES } from './http';

export interface SelfTrafficOptions {
  port: number;
  rps: number;
  isClosing(): boolean;
}

export class SelfTraffic {
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(private readonly options: SelfTrafficOptions) {}

  start(): void {
    const { port, rps } = this.options;
    const intervalMs = Math.max(1, Math.round(1000 / rps));
    const maxInFlight = Math.max(20, Math.ceil(rps * 10));
    this.timer = setInterval(() => {
      if (this.options.isClosing() || this.inFlight >= maxInFlight) return;
      this.inFlight++;
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: ROUTES.work,
          agent: this.agent,
          timeout: 30_000,
          headers: { 'x-sandbox-self-traffic': '1' },
        },
        (res) => {
          res.resume();
          res.on('end', () => this.inFlight--);
          res.on('error', () => undefined);
        },
      );
      req.on('timeout', () => req.destroy(new Error('self-traffic request timed out')));
      req.on('error', () => {
        this.inFlight--;
      });
      req.end();
    }, intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.agent.destroy();
  }
}

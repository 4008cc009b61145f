/**
 * The steps every outage game day takes around one dependency of a running worker: count the
 * worker's connections, stop the dependency, and later count them again while it is down, bring it
 * back and say how long it was gone (rig/outage-stack.ts does the stopping and counting).
 */
import {
  connectionsOf,
  startService,
  stopService,
  type Connections,
  type StackService,
} from './outage-stack';

export interface OutageWindow {
  /** The worker's connections before the dependency stopped, while it was down, and how long it was. */
  before: Connections;
  during: Connections;
  outageSeconds: number;
}

export interface Outage {
  before: Connections;
  /** Counts the connections while still down, brings the dependency back and times the outage. */
  end(): Promise<OutageWindow>;
}

/** Stops a stack service under the worker with pid `pid`. */
export async function serviceOutage(pid: number, svc: StackService): Promise<Outage> {
  const before = await connectionsOf(pid);
  await stopService(svc);
  const down = Date.now();
  return {
    before,
    async end() {
      const during = await connectionsOf(pid);
      await startService(svc);
      return { before, during, outageSeconds: Math.round((Date.now() - down) / 1000) };
    },
  };
}

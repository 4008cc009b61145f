/**
 * Getting ready after the HTTP server listens: the schema and billing read from the database,
 * and the faults persisted for this instance re-applied (how "still down after restart" is
 * simulated). Both retry until their store answers; health reports the last error meanwhile.
 */
import type { Pool } from 'pg';
import type { SandboxConfig } from './config';
import { initSchema, readBilling, type BillingState } from './db';
import type { FaultRegistry, FaultSpec, FaultStore } from './faults';
import { sleep } from './forecast';
import { errorMessage, type Logger } from './log';

export interface StartupDeps {
  config: SandboxConfig;
  log: Logger;
  pool: Pool;
  store: FaultStore;
  faults: FaultRegistry;
  startedAt: number;
  isClosing(): boolean;
}

export class Startup {
  /** Billing as read at start (null until the database answered). */
  billing: BillingState | null = null;
  dbReady = false;
  faultsLoaded = false;
  error = 'starting';

  constructor(private readonly deps: StartupDeps) {}

  get ready(): boolean {
    return this.dbReady && this.faultsLoaded;
  }

  run(): void {
    this.initDatabase();
    this.loadPersistedFaults();
  }

  /** Creates the schema and reads billing, retrying until the database answers. */
  private initDatabase(): void {
    const { config, log, pool } = this.deps;
    const attempt = async (): Promise<void> => {
      for (let n = 1; !this.deps.isClosing(); n++) {
        try {
          await initSchema(pool, config.billingKey);
          this.billing = await readBilling(pool, config.billingKey);
          this.dbReady = true;
          log.info('database ready; billing config read at start', {
            billingKey: this.billing.key,
            billingEnabled: this.billing.enabled,
            billingSince: this.billing.since,
          });
          this.logReadyIfReady();
          return;
        } catch (err) {
          this.error = `database unavailable: ${errorMessage(err)}`;
          log.error('database initialisation failed, retrying', {
            attempt: n,
            error: errorMessage(err),
          });
          await sleep(Math.min(5000, 500 * n));
        }
      }
    };
    void attempt();
  }

  /** Re-applies faults persisted for this instance. */
  private loadPersistedFaults(): void {
    const { log, store, faults } = this.deps;
    const attempt = async (): Promise<void> => {
      for (let n = 1; !this.deps.isClosing(); n++) {
        let specs: FaultSpec[];
        try {
          specs = await store.load();
        } catch (err) {
          this.error = `redis unavailable: ${errorMessage(err)}`;
          log.error('cannot read persisted faults, retrying', { attempt: n, error: errorMessage(err) });
          await sleep(Math.min(5000, 500 * n));
          continue;
        }
        for (const spec of specs) {
          log.warn('re-applying persisted fault', { fault: spec.fault, spec });
          try {
            await faults.inject(spec);
          } catch (err) {
            log.error('persisted fault could not be applied', {
              fault: spec.fault,
              error: errorMessage(err),
            });
          }
        }
        this.faultsLoaded = true;
        this.logReadyIfReady();
        return;
      }
    };
    void attempt();
  }

  private logReadyIfReady(): void {
    if (this.ready) {
      this.deps.log.info('ready', { startupMs: Date.now() - this.deps.startedAt });
    }
  }
}

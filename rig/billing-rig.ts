/**
 * The P0-3 (billing error) rig: the incident rig with the approval world and chat to finance, a
 * sandbox with a billing key of its own, Stripe behind the recording proxy (stripe-mock, or the
 * proxy's own ledger when `stateful`), and an admin connection to the billing switch's table.
 * Workers get the billing key and the Stripe client besides the incident rig's dependencies.
 */
import { Client as PgClient } from 'pg';
import { stripeFrom } from '../worker/clients';
import { need, uniqueId } from './env';
import {
  startIncidentRig,
  type IncidentRig,
  type IncidentRigOptions,
  type RigWorkerOptions,
} from './incident-rig';
import { startStripeProxy, type StripeProxy } from './stripe-proxy';

export interface BillingRig extends IncidentRig {
  billingKey: string;
  stripe: StripeProxy;
  /** PostgreSQL as its admin, on the accubooks database (reads billing_config as it is). */
  admin: PgClient;
}

export interface BillingRigOptions extends Pick<
  IncidentRigOptions,
  'name' | 'server' | 'pagerDutyRoutingKey'
> {
  /** The chat webhook's path after `/hooks/` (default `finance`). */
  chatHook?: string;
  /** Stripe answered by the proxy's ledger (real amounts, refunds by hand) instead of stripe-mock. */
  stateful?: boolean;
}

export async function startBillingRig(opts: BillingRigOptions): Promise<BillingRig> {
  const billingKey = uniqueId(`${opts.name}-billing`).replace(/[^A-Za-z0-9_.:-]/g, '_');
  const [rig, stripe] = await Promise.all([
    startIncidentRig({
      ...opts,
      chatHook: opts.chatHook ?? 'finance',
      approvals: true,
      sandboxEnv: { BILLING_KEY: billingKey },
    }),
    startStripeProxy(need('STRIPE_API_BASE'), opts.stateful ? { stateful: true } : undefined),
  ]);
  // The runbook role flips the switch; the stack grants it (scripts/stack.sh); make sure here too.
  const adminUrl = new URL(need('PG_ADMIN_URL'));
  adminUrl.pathname = '/accubooks';
  const admin = new PgClient({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query('GRANT SELECT, UPDATE ON billing_config TO runbook');
  const deps = () => ({
    ...rig.deps(),
    billing: { key: billingKey },
    stripe: stripeFrom(need('STRIPE_API_KEY'), stripe.url),
  });
  return {
    ...rig,
    billingKey,
    stripe,
    admin,
    deps,
    startWorker: (w: RigWorkerOptions = {}) =>
      rig.startWorker({
        ...w,
        deps: { ...deps(), ...w.deps, billing: { key: billingKey, ...w.deps?.billing } },
      }),
    async close() {
      await rig.close();
      await Promise.allSettled([stripe.close(), admin.end()]);
    },
  };
}

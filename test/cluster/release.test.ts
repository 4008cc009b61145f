/**
 * Issue 22's release proof (test/release/proof.ts) on the two-node cluster (scripts/test-cluster.sh):
 * Worker Versioning as temporal-server with PostgreSQL runs it, behind HAProxy.
 */
import { releaseProof } from '../release/proof';

jest.setTimeout(20 * 60_000);

releaseProof('two-node cluster', 'release-proof-cluster.json');

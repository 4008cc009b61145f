/** Issue 22's release proof (test/release/proof.ts) on the stack's Temporal dev server. */
import { releaseProof } from './proof';

jest.setTimeout(20 * 60_000);

releaseProof('dev server', 'release-proof.json');

/**
 * Writes alerts/accubooks.rules.yml from alerts/rules.ts (`npm run rules:generate`); with `--check`,
 * exits 1 when the committed file differs from what would be generated.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderRulesFile, RULES_FILE } from './rules';

// Runs compiled, from dist/alerts/.
const file = path.resolve(__dirname, '../../alerts', RULES_FILE);
const text = renderRulesFile();

if (process.argv.includes('--check')) {
  const committed = readFileSync(file, 'utf8');
  if (committed !== text) {
    process.stderr.write(`${file} is not what alerts/rules.ts generates: run npm run rules:generate\n`);
    process.exit(1);
  }
  process.stdout.write(`${file} is up to date\n`);
} else {
  writeFileSync(file, text);
  process.stdout.write(`wrote ${file}\n`);
}

/**
 * CDK app: the bot stack (security-tooling account) and the role stack (management account).
 * Synthesizes offline, with no lookups: `npm run synth` writes both templates to cdk.out/.
 * Settings: `cdk deploy -c key=value`, or BREAKGLASS_<KEY> variables (infra/lib/config.ts,
 * README.md, "Deploy").
 */
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { addStacks } from '../lib/app.ts';
import { ConfigError, contextOrEnv } from '../lib/config.ts';

// The CDK CLI sets CDK_OUTDIR; run directly (npm run synth), write to the repository's cdk.out.
const app = new App({ outdir: process.env.CDK_OUTDIR ?? fileURLToPath(new URL('../../cdk.out', import.meta.url)) });

try {
  addStacks(app, contextOrEnv((key) => app.node.tryGetContext(key)));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`breakglass infra: ${error.message}`);
  process.exit(1);
}

app.synth();

/**
 *   npm run cluster:up [-- --inventory FILE] [-- --manifests DIR]
 *   npm run cluster:down
 *   npm run cluster:status
 */
import { parseArgs } from 'node:util';
import { down, status, up } from './cluster.ts';
import { layout } from './layout.ts';

const [command, ...rest] = process.argv.slice(2);
const { values } = parseArgs({
  args: rest,
  options: { inventory: { type: 'string' }, manifests: { type: 'string' } },
  strict: true,
});

try {
  if (command === 'up') {
    const { layout: l } = await up({ inventory: values.inventory, manifests: values.manifests });
    console.log(`cluster is up; its processes log to ${l.logs}
  export KUBECONFIG=${l.kubeconfig}
  ${l.kubectlLink} get nodes,pods -A
  ${l.kubectlLink} get svc -n gpu-inference inference   # EXTERNAL-IP takes load, as in production
  npm run cluster:down                                  # stops everything cluster:up started`);
  } else if (command === 'down') {
    const stopped = await down();
    console.log(stopped.length ? `stopped: ${stopped.join(', ')}` : 'nothing was running');
  } else if (command === 'status') {
    console.log(status(layout()));
  } else {
    console.error('usage: tsx cluster/cli.ts up|down|status [--inventory FILE] [--manifests DIR]');
    process.exit(2);
  }
} catch (e) {
  console.error(`cluster:${command}: ${(e as Error).message}`);
  process.exit(1);
}

#!/usr/bin/env node
// Entry point: `zx provision/node.mjs --inventory hosts.yaml` (or plain `node`). The playbook is
// TypeScript; tsx's ESM loader compiles it on import.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./src/cli.ts');
// zx passes its own flags through process.argv too; everything after this script is ours.
const self = process.argv.findIndex((a) => a.endsWith('node.mjs'));
process.exitCode = await main(process.argv.slice(self + 1));

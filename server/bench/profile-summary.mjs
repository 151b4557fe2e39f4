// Self time by file and by function in every .cpuprofile of a folder (node --cpu-prof writes one per
// thread), for server/bench/profile.sh. Native work outside V8 (onnxruntime's threads) is not in
// these profiles: compare the sampled time with the process's CPU that profile.sh prints.
import { readFileSync, readdirSync } from 'node:fs';

const dir = process.argv[2];
const percent = (part, whole) => ((100 * part) / whole).toFixed(1).padStart(5);

for (const name of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(`${dir}/${name}`, 'utf8'));
  const selfTime = new Map();
  profile.samples.forEach((id, i) =>
    selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
  );
  const total = [...selfTime.values()].reduce((a, b) => a + b, 0);
  const byFile = new Map();
  const byFunction = new Map();
  for (const node of profile.nodes) {
    const time = selfTime.get(node.id) ?? 0;
    if (time === 0) continue;
    const { url, functionName, lineNumber } = node.callFrame;
    const file =
      url.replace(/^file:\/\/.*?\/(server|node_modules)\//, '$1/') || `(${functionName || 'native'})`;
    const fn = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    byFile.set(file, (byFile.get(file) ?? 0) + time);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + time);
  }
  const top = (map, n) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([key, time]) => `  ${percent(time, total)}%  ${key}`)
      .join('\n');
  console.log(`== ${name}: ${(total / 1e6).toFixed(1)} s sampled`);
  console.log(`-- self time by file\n${top(byFile, 12)}\n-- self time by function\n${top(byFunction, 15)}`);
}

/**
 * Builds the Debian 11, 12 and 13 roots the booted-host e2e tests use, ahead of `npm test`:
 * `.ci/run` starts it beside the Go builds, so that on a cold machine debootstrap's downloads wait
 * on the network while the compilers hold the CPU (the tests take the cached tarballs; a build in
 * progress is waited for through the same lock). A warm cache returns at once.
 */
import { DEBIAN_RELEASES, ensureRootfs, rootfsTarball } from './debian-host.ts';

for (const release of Object.values(DEBIAN_RELEASES)) {
  const { built, seconds } = ensureRootfs((s) => console.log(s), release);
  console.log(`${rootfsTarball(release)}: ${built ? `built in ${seconds.toFixed(0)} s` : 'cached'}`);
}

/** Provisioning e2e on a real Debian 13 (trixie) host: see e2e-debian-release.ts. */
import { DEBIAN_RELEASES } from './debian-host.ts';
import { describeDebianRelease } from './e2e-debian-release.ts';

describeDebianRelease(DEBIAN_RELEASES.trixie, {
  containerd: '1.7',
  unsupported: { versionId: '14', codename: 'forky' },
});

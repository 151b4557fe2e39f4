/** Provisioning e2e on a real Debian 12 (bookworm) host: see e2e-debian-release.ts. */
import { DEBIAN_RELEASES } from './debian-host.ts';
import { describeDebianRelease } from './e2e-debian-release.ts';

describeDebianRelease(DEBIAN_RELEASES.bookworm, {
  containerd: '1.6',
  unsupported: { versionId: '10', codename: 'buster' },
});

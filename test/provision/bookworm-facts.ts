/** What the facts command (provision/src/facts.ts) prints on a plain Debian 12 host: for scripted connectors. */
export const BOOKWORM_FACTS_OUTPUT =
  'os=debian|12|bookworm\nkernel=6.1\narch=amd64\ncontainer=none\nmodules=yes\nprocsys=yes\ngpu=\nswap=0\nkubeadm=no\n';

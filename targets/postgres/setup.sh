# PostgreSQL's needs, sourced by scripts/setup: Debian's PostgreSQL 15 (without its
# service), and unshare (util-linux) for the user namespace the server runs in. pg8000,
# its client, is a dependency of powercut.
apt_packages+=(postgresql-15 util-linux)
services+=(postgresql)

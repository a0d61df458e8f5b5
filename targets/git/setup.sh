# git's needs, sourced by scripts/setup.
apt_packages+=(git)

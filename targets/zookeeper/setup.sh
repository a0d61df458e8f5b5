# ZooKeeper's needs, sourced by scripts/setup: Debian's ZooKeeper 3.8 jar, the slf4j binding
# that gives it a log, and a JRE. kazoo, its client, is a dependency of powercut.
apt_packages+=(libzookeeper-java libslf4j-java default-jre-headless)

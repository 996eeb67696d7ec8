# Shared by scripts/test and scripts/demo: what cloudfs needs from Debian,
# installing what is missing, and building.  Sourced, not run.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Build: compiler, meson, the four libraries.  Run and test: fuse3
# (fusermount3, mount.fuse3), pytest, and the tools the tests drive
# (rsync, getfattr, vim and perl among them).
PACKAGES=(gcc libc6-dev meson ninja-build pkg-config libfuse3-dev
	  libcurl4-openssl-dev libjansson-dev libyaml-dev
	  fuse3 python3 python3-pytest
	  rsync attr tar grep findutils coreutils procps vim perl)

install_missing() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "installing: ${missing[*]}"
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
}

# build DIR [MESON-OPTION...]
build() {
	local dir=$1
	shift
	[ -f "$dir/build.ninja" ] || meson setup "$dir" "$ROOT" "$@" >/dev/null
	ninja -C "$dir" >/dev/null
}

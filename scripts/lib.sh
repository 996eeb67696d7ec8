# Shared by scripts/test and scripts/demo: what cloudfs needs from Debian,
# installing what is missing, and building.  Sourced, not run.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Build: compiler, meson, the four libraries.  Run and test: fuse3
# (fusermount3, mount.fuse3), pytest, and the tools the tests drive
# (rsync, getfattr, vim and perl among them; jq reads logs.jsonl,
# rsvg-convert renders the SVG charts; man and groff render the man page,
# systemd-analyze checks the example units).  Lint: clang-format and
# clang-tidy.
PACKAGES=(gcc libc6-dev meson ninja-build pkg-config libfuse3-dev
	  libcurl4-openssl-dev libjansson-dev libyaml-dev
	  fuse3 python3 python3-pytest
	  rsync attr tar grep findutils coreutils procps vim perl jq
	  librsvg2-bin man-db groff-base systemd clang-format clang-tidy)

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

# Every tracked C file as .clang-format writes it, or the differences and
# a non-zero status.
lint_format() {
	echo "== clang-format"
	(cd "$ROOT" && git ls-files -z '*.c' '*.h' |
		xargs -0 clang-format --dry-run --Werror)
}

# lint_tidy DIR: clang-tidy (.clang-tidy) over every tracked .c file, with
# the flags of DIR's compile database; any finding is a non-zero status.
# One file per run: clang-tidy 14 given several files reports false
# "uninitialized va_list" findings from the second one on.
lint_tidy() {
	local dir=$1
	echo "== clang-tidy"
	(cd "$ROOT" && git ls-files -z '*.c' |
		xargs -0 -n 1 -P "$(nproc)" clang-tidy --quiet -p "$dir") 2>&1 |
		sed '/^[0-9]* warnings\{0,1\} generated\.$/d'
	return "${PIPESTATUS[0]}"
}

#!/usr/bin/env bash
# Builds the static keeplite binary for one router target with cargo alone (no `cross`, no
# container engine) and prints the path of the stripped binary on stdout (everything else goes to
# stderr).
#
#   bash cross/build.sh TARGET [--tiny] [--no-default-features] [--features LIST]
#
#   TARGET   x86_64 | aarch64 | armv7 | mipsel, or the full triple:
#            x86_64-unknown-linux-musl, aarch64-unknown-linux-musl,
#            armv7-unknown-linux-musleabihf, mipsel-unknown-linux-musl
#   --tiny   nightly, -Zbuild-std, panic = "immediate-abort", opt-level "z": the smallest
#            binary for tight flash; a panic then aborts with no message at all
#   --features  cargo features to enable
#   --no-default-features  leave out the default features (tls: SSL_GET), for the smallest flash
#
# Toolchain per target: stable with rustup's standard library where rustup serves it for the
# target (x86_64, aarch64, and armv7 where the mirror has it), otherwise nightly with
# `-Zbuild-std` and the rust-src component (armv7 where rustup has no rust-std, mipsel always: it
# is tier 3). Linking is done by rust-lld from the toolchain, in cross/order/'s function order.
# std built from source is built for size and without backtrace symbolization, so a build-std
# binary is smaller than a rustup-std one of the same target (armv7: 484 KiB against 598 KiB).
#
# A build-std build needs musl's start files and libc.a for the target, which rustup would
# otherwise ship; the script prepares them once into the cache (KEEPLITE_CROSS_CACHE, default
# ~/.cache/keeplite-cross):
#   armv7   Debian's musl-dev:armhf (crt1.o crti.o crtn.o libc.a) and libgcc-12-dev-armhf-cross
#           (crtbegin.o crtend.o, and libgcc_eh.a as libunwind.a), fetched with `apt-get download`
#           through a private apt state that adds the armhf architecture: the system's apt and
#           dpkg set-up are not touched and nothing is installed.
#   mipsel  musl built from Debian's source package with `mipsel-linux-gnu-gcc -msoft-float`
#           (package gcc-mipsel-linux-gnu): Rust's mipsel target is soft-float and Debian's mipsel
#           musl is hard-float, which rust-lld refuses to mix. gcc's crtbegin/crtend/libgcc_eh are
#           hard-float too, so three tiny stubs stand in for them (see mipsel_objects).
#   x86_64, aarch64 (tiny build only)  the start files of the stable toolchain's rust-std.
#
# Exit status: 0 built; 1 failed; 3 a prerequisite is missing (tool, toolchain, component), with
# the reason on stderr (tests/cross_qemu.rs skips on 3 and fails on anything else).
#
# Environment: CARGO_TARGET_DIR (default: target/ of the repository), KEEPLITE_CROSS_CACHE.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${KEEPLITE_CROSS_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/keeplite-cross}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}

say() { echo "cross/build.sh: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}
missing() {
    say "missing prerequisite: $*"
    exit 3
}

usage() {
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

TINY=0
ARCH=
FEATURES=
NO_DEFAULT=0
while [ $# -gt 0 ]; do
    case "$1" in
        --tiny) TINY=1 ;;
        --no-default-features) NO_DEFAULT=1 ;;
        --features)
            [ $# -ge 2 ] || usage
            FEATURES=$2
            shift
            ;;
        --features=*) FEATURES=${1#--features=} ;;
        -h | --help) usage ;;
        -*) say "unknown option $1"; usage ;;
        *) [ -z "$ARCH" ] || usage; ARCH=$1 ;;
    esac
    shift
done
[ -n "$ARCH" ] || usage

case "$ARCH" in
    x86_64 | x86_64-unknown-linux-musl) TRIPLE=x86_64-unknown-linux-musl ;;
    aarch64 | arm64 | aarch64-unknown-linux-musl) TRIPLE=aarch64-unknown-linux-musl ;;
    armv7 | armhf | armv7-unknown-linux-musleabihf) TRIPLE=armv7-unknown-linux-musleabihf ;;
    mipsel | mipsel-unknown-linux-musl) TRIPLE=mipsel-unknown-linux-musl ;;
    *) say "unknown target $ARCH"; usage ;;
esac

command -v rustup >/dev/null || missing "rustup"
command -v cargo >/dev/null || missing "cargo"

mkdir -p "$CACHE"
# One build at a time per cache: the private apt state and the object folders are shared, and
# parallel callers (the tests) would otherwise prepare them twice at once.
exec 9>"$CACHE/.lock"
flock 9

# ---------------------------------------------------------------------------------------------
# Toolchains

stable_has_target() {
    [ -d "$(rustc +stable --print sysroot)/lib/rustlib/$1/lib" ]
}

nightly_ready() {
    rustup toolchain list | grep -q '^nightly' ||
        missing "the nightly toolchain (rustup toolchain install nightly --profile minimal)"
    [ -d "$(rustc +nightly --print sysroot)/lib/rustlib/src/rust/library" ] ||
        missing "nightly's rust-src (rustup component add rust-src --toolchain nightly)"
}

# ---------------------------------------------------------------------------------------------
# A private apt state (lists, archives, sources) under the cache: lets `apt-get download` see
# armhf packages and `apt-get source` see deb-src entries without changing the system's apt.

APT_DIR="$CACHE/apt"

# apt_private apt-get|apt-cache ARGS...
apt_private() {
    local tool=$1
    shift
    "$tool" -q \
        -o Dir::State="$APT_DIR/state" \
        -o Dir::State::Lists="$APT_DIR/lists" \
        -o Dir::Cache="$APT_DIR/cache" \
        -o Dir::Etc::SourceList="$APT_DIR/sources.list" \
        -o Dir::Etc::SourceParts="$APT_DIR/sources.list.d" \
        -o Dir::State::status=/var/lib/dpkg/status \
        -o APT::Architectures::="$(dpkg --print-architecture)" \
        -o APT::Architectures::=armhf \
        -o APT::Sandbox::User=root \
        -o Debug::NoLocking=1 \
        "$@"
}

# The system's Debian entries, with deb-src added (for musl's source package).
write_private_sources() {
    mkdir -p "$APT_DIR/sources.list.d" "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" \
        "$APT_DIR/state"
    : >"$APT_DIR/sources.list"
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # One-line format: keep the Debian lines, and a deb-src twin of each.
        awk '$1 == "deb" && /debian/ { print; sub(/^deb/, "deb-src"); print }' "$f" \
            >>"$APT_DIR/sources.list"
    done
    rm -f "$APT_DIR/sources.list.d"/*.sources
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # deb822 format: keep the stanzas whose URIs are Debian's, with Types deb and deb-src.
        awk 'BEGIN { RS = ""; ORS = "\n\n" }
             /URIs:[^\n]*debian/ { sub(/Types:[^\n]*/, "Types: deb deb-src"); print }' "$f" \
            >"$APT_DIR/sources.list.d/$(basename "$f")"
    done
    if ! grep -qs . "$APT_DIR/sources.list" "$APT_DIR/sources.list.d"/*.sources; then
        missing "Debian apt sources (none found in /etc/apt to derive the private state from)"
    fi
}

apt_ready() {
    command -v apt-get >/dev/null || missing "apt-get (the musl objects come from Debian packages)"
    local stamp="$APT_DIR/updated"
    # A day-old index may name package versions the mirror no longer has.
    if [ -n "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
        return
    fi
    write_private_sources
    say "updating a private apt index (amd64 + armhf, deb + deb-src) in $APT_DIR"
    # A mirror caught mid-sync fails one index (often security's armhf one) while the rest are
    # fine; the downloads below fail clearly if what they need is not in the index.
    if apt_private apt-get update >&2; then
        touch "$stamp"
    else
        say "warning: apt-get update (private state) reported errors; going on"
    fi
}

# Extracts Debian package PKG (name[:arch]) into DIR.
fetch_deb() {
    local pkg=$1 dir=$2 work
    work=$(mktemp -d "$CACHE/deb.XXXXXX")
    (cd "$work" && apt_private apt-get download "$pkg" >&2) || die "apt-get download $pkg failed"
    dpkg-deb -x "$work"/*.deb "$dir"
    rm -rf "$work"
}

# ---------------------------------------------------------------------------------------------
# musl objects for build-std builds: one folder passed to rustc as `-L native=`.

armv7_objects() {
    local dir="$CACHE/musl-armv7"
    if [ -f "$dir/.done" ]; then
        echo "$dir"
        return
    fi
    apt_ready
    say "preparing armv7 musl objects in $dir"
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp/root" "$dir"
    fetch_deb musl-dev:armhf "$dir.tmp/root"
    # The libgcc cross package that gcc-arm-linux-gnueabihf depends on (architecture all).
    local libgcc
    libgcc=$(apt_private apt-cache pkgnames libgcc- | grep -x 'libgcc-[0-9]*-dev-armhf-cross' |
        sort -V | tail -n 1)
    [ -n "$libgcc" ] || die "no libgcc-N-dev-armhf-cross package in the apt index"
    fetch_deb "$libgcc" "$dir.tmp/root"
    local musl_lib gcc_lib
    musl_lib=$(dirname "$(find "$dir.tmp/root" -path '*arm-linux-musleabihf*' -name crt1.o | head -n 1)")
    gcc_lib=$(dirname "$(find "$dir.tmp/root" -path '*gcc-cross/arm-linux-gnueabihf*' -name crtbegin.o | head -n 1)")
    [ -f "$musl_lib/libc.a" ] || die "musl-dev:armhf has no libc.a where expected"
    [ -f "$gcc_lib/libgcc_eh.a" ] || die "$libgcc has no libgcc_eh.a where expected"
    cp "$musl_lib"/{crt1.o,crti.o,crtn.o,libc.a} "$dir/"
    cp "$gcc_lib"/{crtbegin.o,crtend.o} "$dir/"
    cp "$gcc_lib/libgcc_eh.a" "$dir/libunwind.a"
    rm -rf "$dir.tmp"
    touch "$dir/.done"
    echo "$dir"
}

mipsel_objects() {
    local dir="$CACHE/musl-mipsel-softfloat"
    if [ -f "$dir/.done" ]; then
        echo "$dir"
        return
    fi
    local cc=mipsel-linux-gnu-gcc
    command -v "$cc" >/dev/null || missing "$cc (apt-get install gcc-mipsel-linux-gnu)"
    command -v make >/dev/null || missing "make"
    apt_ready
    say "building soft-float musl (Debian's source) for mipsel in $dir (about 30 s, once)"
    rm -rf "$dir" "$dir.src"
    mkdir -p "$dir.src" "$dir"
    (cd "$dir.src" && apt_private apt-get source --download-only musl >&2) ||
        die "apt-get source musl failed (the private state adds deb-src entries)"
    local orig
    orig=$(find "$dir.src" -maxdepth 1 -name 'musl_*.orig.tar.*' | head -n 1)
    [ -n "$orig" ] || die "no musl orig tarball in $dir.src"
    tar -xf "$orig" -C "$dir.src"
    local src
    src=$(find "$dir.src" -mindepth 1 -maxdepth 1 -type d -name 'musl*' | head -n 1)
    local log="$CACHE/musl-mipsel-build.log"
    if ! (
        cd "$src"
        ./configure --target=mipsel-linux-gnu CROSS_COMPILE=mipsel-linux-gnu- CC="$cc" \
            CFLAGS="-msoft-float -Os" --disable-shared --prefix=/
        make -j"$(nproc)" lib/libc.a lib/crt1.o lib/crti.o lib/crtn.o
    ) >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "building musl for mipsel failed (log: $log)"
    fi
    grep -q '^SUBARCH = .*-sf$' "$src/config.mak" || die "musl's configure did not pick soft-float"
    cp "$src"/lib/{crt1.o,crti.o,crtn.o,libc.a} "$dir/"
    # Stand-ins for gcc's hard-float objects. crtbegin only has to define __dso_handle (the
    # linker-provided handle musl's atexit code refers to); crtend is empty; std built with
    # panic=abort still references two unwinder entry points, for backtraces, which report an
    # empty stack here.
    local stub="$dir.src/stubs"
    mkdir -p "$stub"
    printf 'void *__dso_handle = &__dso_handle;\n' >"$stub/crtbegin.c"
    : >"$stub/crtend.c"
    cat >"$stub/unwind.c" <<'EOF'
typedef int (*trace_fn)(void *ctx, void *arg);
/* _URC_END_OF_STACK */
int _Unwind_Backtrace(trace_fn f, void *arg) { (void)f; (void)arg; return 5; }
unsigned long _Unwind_GetIP(void *ctx) { (void)ctx; return 0; }
EOF
    local f
    for f in crtbegin crtend unwind; do
        "$cc" -msoft-float -Os -c "$stub/$f.c" -o "$stub/$f.o"
    done
    cp "$stub/crtbegin.o" "$stub/crtend.o" "$dir/"
    mipsel-linux-gnu-ar rcs "$dir/libunwind.a" "$stub/unwind.o"
    rm -rf "$dir.src"
    touch "$dir/.done"
    echo "$dir"
}

# The stable toolchain's own musl objects (rust-std's self-contained folder).
rustup_objects() {
    local dir
    dir="$(rustc +stable --print sysroot)/lib/rustlib/$1/lib/self-contained"
    [ -f "$dir/crt1.o" ] || missing "rust-std for $1 on stable (rustup target add $1)"
    echo "$dir"
}

# ---------------------------------------------------------------------------------------------
# Build

TOOLCHAIN=stable
BUILD_STD=0
if [ "$TINY" -eq 1 ] || [ "$TRIPLE" = mipsel-unknown-linux-musl ]; then
    BUILD_STD=1
elif ! stable_has_target "$TRIPLE"; then
    say "trying: rustup target add $TRIPLE"
    if ! rustup target add --toolchain stable "$TRIPLE" >&2 2>/dev/null; then
        say "rustup has no rust-std for $TRIPLE here: using nightly -Zbuild-std"
        BUILD_STD=1
    fi
fi

FLAGS=(-C relocation-model=static)
OBJECTS=
if [ "$BUILD_STD" -eq 1 ]; then
    TOOLCHAIN=nightly
    nightly_ready
    case "$TRIPLE" in
        x86_64-*) OBJECTS=$(rustup_objects "$TRIPLE") ;;
        aarch64-*)
            stable_has_target "$TRIPLE" || rustup target add --toolchain stable "$TRIPLE" >&2 || true
            OBJECTS=$(rustup_objects "$TRIPLE")
            ;;
        armv7-*) OBJECTS=$(armv7_objects) ;;
        mipsel-*) OBJECTS=$(mipsel_objects) ;;
    esac
    FLAGS+=(-L "native=$OBJECTS")
fi
# rust-lld for every target, in the function order of cross/order/keeplite.order (the code each
# keeplite process runs sits together: cross/order/README.md). The order's symbol names are
# x86_64's; on other targets Rust's symbol hashes differ and only the unhashed names match.
FLAGS+=(-C linker=rust-lld
    -C "link-arg=--symbol-ordering-file=$REPO/cross/order/keeplite.order"
    -C link-arg=--no-warn-symbol-ordering)
if [ "$TRIPLE" = armv7-unknown-linux-musleabihf ]; then
    # Thumb-2 code, which every ARMv7-A core runs: about 28 % smaller than ARM code (measured on
    # keeplite, BENCHMARKS.md). rustc calls the feature unstable and says so in a warning.
    FLAGS+=(-C target-feature=+thumb-mode)
fi
if [ "$TRIPLE" = mipsel-unknown-linux-musl ]; then
    # mips musl targets link dynamically by default (then: "unable to find library -lgcc_s").
    # rustix's libc backend on mips assumes a 64-bit time_t that the libc crate does not have,
    # so timers misfire; its raw-syscall backend is right.
    FLAGS+=(-C target-feature=+crt-static --cfg rustix_use_experimental_asm)
fi

CARGO_ARGS=(build --locked --manifest-path "$REPO/Cargo.toml" --bin keeplite --target "$TRIPLE")
if [ "$NO_DEFAULT" -eq 1 ]; then
    CARGO_ARGS+=(--no-default-features)
fi
if [ -n "$FEATURES" ]; then
    CARGO_ARGS+=(--features "$FEATURES")
fi
PROFILE=release
if [ "$TINY" -eq 1 ]; then
    # A profile of its own keeps the tiny objects apart from the release ones in the target dir.
    PROFILE=tiny
    CARGO_ARGS+=(-Zpanic-immediate-abort
        --config 'profile.tiny.inherits="release"'
        --config 'profile.tiny.opt-level="z"'
        --config 'profile.tiny.panic="immediate-abort"')
    # Panic locations are never printed with immediate-abort: drop the file names from the binary.
    FLAGS+=(-Zlocation-detail=none)
fi
CARGO_ARGS+=(--profile "$PROFILE")
if [ "$BUILD_STD" -eq 1 ]; then
    # std with its size-over-speed choices and without its default features, the largest of
    # which is backtrace symbolization (gimli, addr2line, a demangler, zlib): a panic still prints
    # its message, but RUST_BACKTRACE shows no symbol names. On armv7: -116 KB default, -8 KB tiny.
    CARGO_ARGS+=("-Zbuild-std=std,panic_abort" -Zbuild-std-features=optimize_for_size)
fi

# The flags above replace .cargo/config.toml's target rustflags (CARGO_ENCODED_RUSTFLAGS wins over
# them), so that every input of the build is in this file. They reach target units only, not
# build scripts and proc macros, because --target is given.
ENCODED=$(printf '%s\x1f' "${FLAGS[@]}")
ENCODED=${ENCODED%$'\x1f'}

say "cargo +$TOOLCHAIN ${CARGO_ARGS[*]}"
say "rustflags: ${FLAGS[*]}"
(
    unset RUSTFLAGS
    export CARGO_ENCODED_RUSTFLAGS=$ENCODED
    export CARGO_TARGET_DIR=$TARGET_DIR
    cargo "+$TOOLCHAIN" "${CARGO_ARGS[@]}" >&2
) || die "cargo build for $TRIPLE failed"

BIN="$TARGET_DIR/$TRIPLE/$PROFILE/keeplite"
[ -f "$BIN" ] || die "$BIN was not built"
if command -v file >/dev/null; then
    case "$(file -b "$BIN")" in
        *"dynamically linked"* | *"interpreter"*) die "$BIN is not statically linked: $(file -b "$BIN")" ;;
        *"not stripped"*) die "$BIN is not stripped: $(file -b "$BIN")" ;;
    esac
fi
say "$(stat -c %s "$BIN") bytes: $BIN"
echo "$BIN"

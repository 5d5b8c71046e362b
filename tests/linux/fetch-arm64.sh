#!/bin/bash
# tests/linux/fetch-arm64.sh OUT_DIR
#
# Fetches and prepares the real Linux guest for Bulkhead's arm64 cells from
# Debian packages (see tests/linux/README.md):
#   OUT_DIR/Image              raw arm64 kernel Image ("ARMd" at 0x38)
#   OUT_DIR/config             the kernel's build configuration
#   OUT_DIR/initramfs.cpio.gz  busybox-static + tests/linux/init (newc, gzip,
#                              reproducible)
#   OUT_DIR/VERSION            package names and versions
#   OUT_DIR/SHA256SUMS         checksums of the files above
#   OUT_DIR/.stamp             inputs of the last build (fast path)
#
# The .debs are kept in ${BULKHEAD_CACHE:-/var/cache/bulkhead}/debs-arm64 and
# re-used while apt's candidate version (and SHA256) is the same.
#
# Environment:
#   BULKHEAD_CACHE         cache directory (default /var/cache/bulkhead)
#   BULKHEAD_APT           host | private (default: host on Debian, else private)
#     host:    use the host's apt sources, adding the arm64 architecture
#     private: a separate apt configuration under the cache directory with
#              Debian's own sources (e.g. on Ubuntu, whose archive has no
#              linux-image-arm64); the host's apt setup is not touched
#   BULKHEAD_DEBIAN_MIRROR (private) default http://deb.debian.org/debian
#   BULKHEAD_DEBIAN_SUITE  (private) default bookworm
#   BULKHEAD_DEBIAN_SECURITY (private) default http://deb.debian.org/debian-security
#
# Needs root (apt-get, mknod) unless OUT_DIR is already up to date.
# Idempotent; safe to run concurrently (locks on OUT_DIR and the cache).
set -euo pipefail
umask 022
export LC_ALL=C

PROG=fetch-arm64.sh
log() { echo "$PROG: $*"; }
warn() { echo "$PROG: warning: $*" >&2; }
die() { echo "$PROG: ERROR: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root to $*"; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: $PROG OUT_DIR"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INIT=$HERE/init
[ -f "$INIT" ] || die "missing $INIT (the initramfs /init)"
for t in apt-get apt-cache dpkg dpkg-deb tar gzip od sha256sum find sort \
         mknod flock mktemp; do
    command -v "$t" >/dev/null || die "missing tool '$t' (Debian/Ubuntu with apt required)"
done

CACHE=${BULKHEAD_CACHE:-/var/cache/bulkhead}
DEBS=$CACHE/debs-arm64

WORK='' DL_TMP=''
trap 'rm -rf ${WORK:+"$WORK"} ${DL_TMP:+"$DL_TMP"}' EXIT

# lock FD DIR: serialise runs on DIR (fd FD stays open until exit).
lock() {
    eval "exec $1<\"\$2\"" || die "cannot open $2"
    flock -n "$1" && return 0
    log "waiting for another run using $2"
    flock "$1" || die "cannot lock $2"
}

mkdir -p "$1" || die "cannot create $1"
OUT=$(cd "$1" && pwd)
lock 8 "$OUT"

# ---------------------------------------------------------------- apt setup
APT_MODE=${BULKHEAD_APT:-}
if [ -z "$APT_MODE" ]; then
    APT_MODE=private
    if [ -r /etc/os-release ] && [ "$(. /etc/os-release && echo "${ID:-}")" = debian ]; then
        APT_MODE=host
    fi
fi
HOST_APT=(apt-get -q -o DPkg::Lock::Timeout=600)  # installs on the host
APT_GET=("${HOST_APT[@]}")                        # downloads of arm64 packages
APT_CACHE=(apt-cache)

case "$APT_MODE" in
host)
    if [ "$(dpkg --print-architecture)" != arm64 ] &&
       ! dpkg --print-foreign-architectures | grep -x arm64 >/dev/null; then
        need_root "add the arm64 architecture (dpkg --add-architecture arm64)"
        log "adding the arm64 foreign architecture"
        dpkg --add-architecture arm64 || die "dpkg --add-architecture arm64 failed"
        NEED_UPDATE=1
    fi
    ;;
private)
    PAPT=$CACHE/apt-arm64
    MIRROR=${BULKHEAD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
    SUITE=${BULKHEAD_DEBIAN_SUITE:-bookworm}
    SECURITY=${BULKHEAD_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
    KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
    SOURCES="deb [signed-by=$KEYRING] $MIRROR $SUITE main
deb [signed-by=$KEYRING] $MIRROR $SUITE-updates main
deb [signed-by=$KEYRING] $SECURITY $SUITE-security main"
    if [ ! -f "$PAPT/sources.list" ] || [ "$(cat "$PAPT/sources.list")" != "$SOURCES" ]; then
        need_root "set up the private apt configuration in $PAPT"
        mkdir -p "$PAPT"/{parts,prefs,state/lists/partial,cache/archives/partial}
        : > "$PAPT/state/status"   # no installed packages
        echo "$SOURCES" > "$PAPT/sources.list"
        NEED_UPDATE=1
    fi
    if [ ! -f "$KEYRING" ]; then
        need_root "install debian-archive-keyring"
        log "installing debian-archive-keyring"
        DEBIAN_FRONTEND=noninteractive "${HOST_APT[@]}" install -y debian-archive-keyring ||
            { "${HOST_APT[@]}" update && DEBIAN_FRONTEND=noninteractive \
              "${HOST_APT[@]}" install -y debian-archive-keyring; } ||
            die "cannot install debian-archive-keyring (needed to verify Debian's archive)"
    fi
    # Everything apt reads or writes is redirected into $PAPT, except apt.conf
    # (proxies etc. still apply).
    PRIV=(-o "APT::Architecture=arm64" -o "APT::Architectures=arm64"
          -o "Dir::Etc::SourceList=$PAPT/sources.list" -o "Dir::Etc::SourceParts=$PAPT/parts"
          -o "Dir::Etc::Preferences=$PAPT/prefs/none" -o "Dir::Etc::PreferencesParts=$PAPT/prefs"
          -o "Dir::State=$PAPT/state" -o "Dir::State::status=$PAPT/state/status"
          -o "Dir::Cache=$PAPT/cache")
    APT_GET+=("${PRIV[@]}")
    APT_CACHE+=("${PRIV[@]}")
    ;;
*) die "BULKHEAD_APT must be 'host' or 'private', not '$APT_MODE'" ;;
esac

apt_update() {
    need_root "run apt-get update"
    log "apt-get update ($APT_MODE apt sources)"
    "${APT_GET[@]}" update || warn "apt-get update reported errors"
    NEED_UPDATE=0
}

# field RECORDS PKG NAME: field NAME of package PKG in apt-cache show output.
field() {
    awk -v p="$2" -v k="$3: " 'BEGIN { RS = ""; FS = "\n" }
        { pkg = val = ""
          for (i = 1; i <= NF; i++) {
              if ($i ~ /^Package: /) pkg = substr($i, 10)
              if (index($i, k) == 1) val = substr($i, length(k) + 1)
          }
          if (pkg == p && !n++) print val }' <<< "$1"
}

# Sets KPKG KVER KSUM BBVER BBSUM from apt's candidates; fails if unknown.
# (apt-cache takes about a second per call: two calls.)
resolve() {
    local recs
    KPKG='' KVER='' KSUM='' BBVER='' BBSUM=''
    recs=$("${APT_CACHE[@]}" show --no-all-versions linux-image-arm64:arm64 \
           busybox-static:arm64 2>/dev/null) || return 1
    # Depends: linux-image-6.1.0-NN-arm64 (= VERSION)
    KPKG=$(field "$recs" linux-image-arm64 Depends | tr ',|' '\n\n' |
           awk '{ sub(/:.*/, "", $1) } $1 ~ /^linux-image-[0-9]/ && !n++ { print $1 }')
    BBVER=$(field "$recs" busybox-static Version)
    BBSUM=$(field "$recs" busybox-static SHA256)
    [ -n "$KPKG" ] || return 1
    recs=$("${APT_CACHE[@]}" show --no-all-versions "$KPKG:arm64" 2>/dev/null) || return 1
    KVER=$(field "$recs" "$KPKG" Version)
    KSUM=$(field "$recs" "$KPKG" SHA256)
    [ -n "$KVER" ] && [ -n "$BBVER" ]
}

[ "${NEED_UPDATE:-0}" = 1 ] && apt_update
if ! resolve; then
    apt_update
    resolve || die "apt ($APT_MODE) does not know linux-image-arm64:arm64 (-> ${KPKG:-?}) and busybox-static:arm64; check the apt sources (on Ubuntu: BULKHEAD_APT=private)"
fi
log "kernel: $KPKG $KVER (via linux-image-arm64:arm64); busybox-static $BBVER"

# ---------------------------------------------------------------- fast path
sha() { sha256sum < "$1" | cut -d' ' -f1; }
# The inputs of the outputs: this script, /init and the two packages.
stamp() {
    printf '%s\n' "format 1" "fetch-arm64.sh $(sha "${BASH_SOURCE[0]}")" \
        "init $(sha "$INIT")" "kernel $KPKG $KVER" "busybox-static $BBVER"
}
OUTPUTS=(Image config initramfs.cpio.gz VERSION)

image_info() {
    local toff isz
    toff=$(od -An -tu8 -j8 -N8 "$OUT/Image" | tr -d ' ')
    isz=$(od -An -tu8 -j16 -N8 "$OUT/Image" | tr -d ' ')
    log "Image: $(stat -c %s "$OUT/Image") bytes; initramfs.cpio.gz: $(stat -c %s "$OUT/initramfs.cpio.gz") bytes"
    printf '%s: Image text_offset=0x%x (%d) image_size=0x%x (%d)\n' "$PROG" "$toff" "$toff" "$isz" "$isz"
}

up_to_date() {
    local f
    [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$(stamp)" ] || return 1
    for f in "${OUTPUTS[@]}" SHA256SUMS; do [ -s "$OUT/$f" ] || return 1; done
    (cd "$OUT" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1)
}
if up_to_date; then
    log "$OUT is up to date (stamp matches packages and init); nothing to do"
    image_info
    exit 0
fi

# ---------------------------------------------------------------- downloads
need_root "download packages and build the initramfs (mknod)"
mkdir -p "$DEBS" || die "cannot create cache directory $DEBS"
lock 9 "$DEBS"
rm -rf "$DEBS"/.dl.* "$OUT"/.work.*   # left by killed runs (we hold both locks)

# cached PKG VER SHA256: path of a cached .deb of PKG at VER (and SHA256 if
# known), or nothing.
cached() {
    local f
    for f in "$DEBS/$1"_*_arm64.deb; do
        [ -f "$f" ] || continue
        [ "$(dpkg-deb -f "$f" Package 2>/dev/null)" = "$1" ] || continue
        [ "$(dpkg-deb -f "$f" Version 2>/dev/null)" = "$2" ] || continue
        [ -z "$3" ] || [ "$(sha "$f")" = "$3" ] || continue
        echo "$f"
        return 0
    done
}

# download PKG VER SHA256: makes sure the cache has it; other versions of PKG
# are removed. Fails (without dying) if apt-get download fails.
download() {
    local tmp f
    if [ -n "$(cached "$1" "$2" "$3")" ]; then
        log "cache: $1 $2"
        return 0
    fi
    log "downloading $1:arm64=$2"
    tmp=$(mktemp -d "$DEBS/.dl.XXXXXX")
    DL_TMP=$tmp
    # apt drops root for downloads: let _apt write (no "unsandboxed" warning).
    if id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
    if ! (cd "$tmp" && "${APT_GET[@]}" download "$1:arm64=$2"); then
        rm -rf "$tmp"
        return 1
    fi
    for f in "$tmp"/*.deb; do
        [ -f "$f" ] || { rm -rf "$tmp"; return 1; }
        if [ -n "$3" ] && [ "$(sha "$f")" != "$3" ]; then
            rm -rf "$tmp"
            die "$1 $2: SHA256 of the download does not match apt's index"
        fi
        rm -f "$DEBS/$1"_*_arm64.deb
        chown root:root "$f"
        mv "$f" "$DEBS/"
    done
    rm -rf "$tmp"
}

if ! { download "$KPKG" "$KVER" "$KSUM" && download busybox-static "$BBVER" "$BBSUM"; }; then
    # Usually stale package lists (the mirror dropped that version): refresh once.
    warn "download failed; refreshing the package lists and retrying"
    apt_update
    resolve || die "linux-image-arm64:arm64 or busybox-static:arm64 vanished from apt"
    log "kernel: $KPKG $KVER; busybox-static $BBVER"
    download "$KPKG" "$KVER" "$KSUM" || die "apt-get download $KPKG:arm64=$KVER failed"
    download busybox-static "$BBVER" "$BBSUM" || die "apt-get download busybox-static:arm64=$BBVER failed"
fi
KDEB=$(cached "$KPKG" "$KVER" "$KSUM")
BBDEB=$(cached busybox-static "$BBVER" "$BBSUM")
[ -n "$KDEB" ] && [ -n "$BBDEB" ] || die "downloaded .debs not found in $DEBS"

# ---------------------------------------------------------------- build
if ! command -v cpio >/dev/null; then
    log "installing cpio"
    DEBIAN_FRONTEND=noninteractive "${HOST_APT[@]}" install -y cpio ||
        { "${HOST_APT[@]}" update && DEBIAN_FRONTEND=noninteractive "${HOST_APT[@]}" install -y cpio; } ||
        die "apt-get install cpio failed"
fi

WORK=$(mktemp -d "$OUT/.work.XXXXXX")

# Kernel: Debian's arm64 /boot/vmlinuz-* is the raw Image (an EFI stub
# PE/COFF header + the arm64 boot header); accept a gzip'd one too.
dpkg-deb --fsys-tarfile "$KDEB" | tar -x -C "$WORK" ./boot ||
    die "cannot extract ./boot from $KDEB"
VMLINUZ=$(find "$WORK/boot" -name 'vmlinuz-*' -print -quit)
[ -n "$VMLINUZ" ] || die "no /boot/vmlinuz-* in $KDEB"
KREL=${VMLINUZ##*/vmlinuz-}
if [ "$(od -An -tx1 -N2 "$VMLINUZ" | tr -d ' ')" = 1f8b ]; then
    gzip -dc "$VMLINUZ" > "$WORK/Image" || die "gunzip of $VMLINUZ failed"
else
    cp "$VMLINUZ" "$WORK/Image"
fi
magic=$(od -An -tx1 -j56 -N4 "$WORK/Image" | tr -d ' ')
if [ "$magic" != 41524d64 ]; then
    [ "$(od -An -c -j4 -N4 "$WORK/Image" | tr -d ' ')" = zimg ] &&
        die "$KPKG is an EFI zboot kernel (compressed PE): not supported, need a raw Image"
    die "$KPKG: /boot/vmlinuz-$KREL is not an arm64 Image (bytes at 0x38: $magic, want 41524d64 'ARMd')"
fi
[ -f "$WORK/boot/config-$KREL" ] || die "no /boot/config-$KREL in $KDEB"
cp "$WORK/boot/config-$KREL" "$WORK/config"

# Initramfs: busybox, /init, the two device nodes the kernel needs before
# /init can mount devtmpfs (console for init's stdio), fixed owners and
# mtimes, sorted entries, gzip without a name or time stamp.
R=$WORK/root
mkdir -p "$WORK/bb" "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,etc,root,tmp,run}
dpkg-deb -x "$BBDEB" "$WORK/bb" || die "cannot extract $BBDEB"
[ -f "$WORK/bb/bin/busybox" ] || die "no /bin/busybox in $BBDEB"
install -m 0755 "$WORK/bb/bin/busybox" "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
install -m 0755 "$INIT" "$R/init"
mknod -m 0600 "$R/dev/console" c 5 1 || die "mknod /dev/console failed (needs CAP_MKNOD)"
mknod -m 0666 "$R/dev/null" c 1 3 || die "mknod /dev/null failed (needs CAP_MKNOD)"
chmod 0755 "$R" "$R"/{bin,sbin,usr,usr/bin,usr/sbin,dev,proc,sys,etc,run}
chmod 0700 "$R/root"
chmod 1777 "$R/tmp"
find "$R" -exec touch -h -d @0 {} +
CPIO_OPTS=(-o -H newc -R 0:0 --null --quiet)
# (no `| grep -q`: under pipefail its early exit can fail the pipeline)
case "$(cpio --help 2>&1)" in *--reproducible*) CPIO_OPTS+=(--reproducible) ;; esac
(cd "$R" && find . -mindepth 1 -print0 | sort -z | cpio "${CPIO_OPTS[@]}") |
    gzip -9 -n > "$WORK/initramfs.cpio.gz" || die "cpio/gzip of the initramfs failed"

cat > "$WORK/VERSION" <<EOF
kernel-package: $KPKG
kernel-version: $KVER
kernel-release: $KREL
busybox-static: $BBVER
EOF

# Install: stamp away first, stamp last, so an interrupted run is redone.
rm -f "$OUT/.stamp"
for f in "${OUTPUTS[@]}"; do mv -f "$WORK/$f" "$OUT/$f"; done
(cd "$OUT" && sha256sum "${OUTPUTS[@]}" > SHA256SUMS)
stamp > "$OUT/.stamp"
log "wrote $OUT: Image ($KREL), config, initramfs.cpio.gz, VERSION"
image_info

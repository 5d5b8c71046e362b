#!/bin/bash
# run.sh: build the x86proto kernel, wrap it in a GRUB (BIOS) ISO, boot it under
# Bochs (VMX+EPT CPU model, 2 CPUs) headless, and print the serial log with the
# wall time at which each line first appeared.
# Env: BOCHS_CPUS (default 2), BOCHS_TIMEOUT (s, default 120), BOCHS_IPS (default 10000000; boot time scales with it: BIOS+GRUB wait in virtual time), NOBUILD=1
set -euo pipefail
die() { echo "run.sh: ERROR: $*" >&2; exit 1; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE/out
mkdir -p "$OUT"

for p in bochs bochsbios vgabios grub-pc-bin grub-common xorriso mtools; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || die "missing package $p"
done

# 1. build
if [ "${NOBUILD:-0}" != 1 ]; then
    (cd "$HERE/kernel" && cargo build --release) || die "cargo build failed"
fi
KERNEL=$HERE/kernel/target/x86_64-unknown-none/release/x86proto
grub-file --is-x86-multiboot2 "$KERNEL" || die "not a multiboot2 image"

# 2. ISO
ISO=$OUT/iso; rm -rf "$ISO"; mkdir -p "$ISO/boot/grub"
cp "$KERNEL" "$ISO/boot/kernel.elf"
cat > "$ISO/boot/grub/grub.cfg" <<'CFG'
set timeout=0
set default=0
menuentry "x86proto" {
  multiboot2 /boot/kernel.elf
  boot
}
CFG
grub-mkrescue -o "$OUT/boot.iso" "$ISO" >"$OUT/grub-mkrescue.log" 2>&1 || { cat "$OUT/grub-mkrescue.log" >&2; die "grub-mkrescue failed"; }

# 3. bochsrc (Debian bochs: no nogui -> rfb with timeout=0; built with debugger -> -rc)
cat > "$OUT/bochsrc.txt" <<RC
megs: 256
cpu: model=corei7_skylake_x, count=${BOCHS_CPUS:-2}, ips=${BOCHS_IPS:-10000000}, reset_on_triple_fault=0
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
ata0-master: type=cdrom, path=$OUT/boot.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=$OUT/serial.txt
display_library: rfb, options="timeout=0"
# no sound card on the host: Bochs' mixer thread aborts (glibc "buffer overflow detected") unless sound is dummy
speaker: enabled=0
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
log: $OUT/bochs.log
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore
clock: sync=none, time0=local
RC
printf 'c\nquit\n' > "$OUT/dbg.rc"

# 4. run, timestamping serial lines as they appear
rm -f "$OUT/serial.txt" "$OUT/timeline.txt"
t0=$EPOCHREALTIME
timeout "${BOCHS_TIMEOUT:-120}" bochs -q -f "$OUT/bochsrc.txt" -rc "$OUT/dbg.rc" </dev/null >"$OUT/bochs-stdout.txt" 2>&1 &
BPID=$!
seen=0
while kill -0 $BPID 2>/dev/null; do
    if [ -f "$OUT/serial.txt" ]; then
        n=$(tr -d '\r' < "$OUT/serial.txt" | grep -c '' || true)
        while [ "$seen" -lt "$n" ]; do
            seen=$((seen+1))
            line=$(tr -d '\r' < "$OUT/serial.txt" | sed -n "${seen}p")
            awk -v a="$t0" -v b="$EPOCHREALTIME" -v l="$line" 'BEGIN{printf "%6.2fs  %s\n", b-a, l}' >> "$OUT/timeline.txt"
        done
    fi
    sleep 0.05
done
set +e; wait $BPID; rc=$?; set -e
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
echo "run.sh: bochs exited rc=$rc after ${secs}s (1 = guest shutdown via port 0x8900, 124 = timeout)"
echo "---- serial (COM1) with first-seen wall time ----"
[ -f "$OUT/timeline.txt" ] && cat "$OUT/timeline.txt"
# lines that arrived in the last poll interval before exit
if [ -f "$OUT/serial.txt" ]; then
    total=$(tr -d '\r' < "$OUT/serial.txt" | grep -c '' || true)
    [ "$total" -gt "$seen" ] && tr -d '\r' < "$OUT/serial.txt" | sed -n "$((seen+1)),\$p" | sed "s/^/ ${secs}s  /"
fi
tr -d '\r' < "$OUT/serial.txt" 2>/dev/null | grep -q 'x86proto: ap 1 online' && tr -d '\r' < "$OUT/serial.txt" | grep -q 'x86proto: vmxon ok' \
    && { echo "run.sh: OK"; exit 0; }
echo "run.sh: FAIL (see $OUT/serial.txt $OUT/bochs.log $OUT/bochs-stdout.txt)"; exit 1

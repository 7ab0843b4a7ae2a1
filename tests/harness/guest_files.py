"""The tiny guest's own files: its /init, inittab, profile and shutdown plumbing."""

from __future__ import annotations

HOSTNAME = "kvmtui-guest"
PROMPT = "kvmtui-guest# "
AGENT_PORT = "org.qemu.guest_agent.0"

# Runs as PID 1: mounts, modules, virtio port links, qemu-ga, acpid, network; then
# hands PID 1 to busybox init, which respawns the root shell on ttyS0 and performs
# poweroff/halt/reboot.
INIT = f"""#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/virtio-ports
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/lock /var/log
hostname -F /etc/hostname
for module in $(cat /etc/modules.order); do
    insmod "/lib/modules/$module.ko" || echo "init: insmod $module failed"
done

# No udev here: name the virtio serial ports the way udev rules would.
tries=0
while [ ! -e /dev/virtio-ports/{AGENT_PORT} ] && [ $tries -lt 50 ]; do
    for port in /sys/class/virtio-ports/vport*; do
        [ -r "$port/name" ] || continue
        ln -sf "/dev/${{port##*/}}" "/dev/virtio-ports/$(cat "$port/name")"
    done
    [ -e /dev/virtio-ports/{AGENT_PORT} ] || sleep 0.1
    tries=$((tries + 1))
done
# acpid first: once the agent answers, `virsh shutdown` (ACPI) is also handled.
acpid -c /etc/acpi -l /var/log/acpid.log
if [ -e /dev/virtio-ports/{AGENT_PORT} ]; then
    qemu-ga -d -m virtio-serial -p /dev/virtio-ports/{AGENT_PORT}
else
    echo "init: no {AGENT_PORT} port; qemu-ga not started"
fi
ip link set lo up
[ -e /sys/class/net/eth0 ] && ip link set eth0 up
# Display tests boot with kvmtui.tty1 on the command line: a root shell on tty1 as well.
if grep -q kvmtui.tty1 /proc/cmdline; then
    echo "tty1::respawn:-/bin/sh" >> /etc/inittab
fi
echo "init: kvmtui guest ready"
exec /sbin/init
"""

INITTAB = """::sysinit:/bin/true
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
"""

PROFILE = f"""export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export HOME=/root
export PS1='{PROMPT}'
"""

# qemu-ga's guest-shutdown runs `/sbin/shutdown -P|-H|-r +0 MESSAGE`; busybox has none.
SHUTDOWN_SHIM = """#!/bin/sh
action=poweroff
for arg in "$@"; do
    case "$arg" in
        -P|-h) action=poweroff ;;
        -H) action=halt ;;
        -r) action=reboot ;;
    esac
done
exec "/sbin/$action"
"""

# busybox acpid maps the ACPI power button to the event PWRF/00000080.
ACPI_POWER_BUTTON = """#!/bin/sh
exec /sbin/poweroff
"""

OS_RELEASE = """PRETTY_NAME="kvmtui tiny guest"
NAME="kvmtui guest"
ID=kvmtui-guest
VERSION_ID="1"
"""

PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
GROUP = "root:x:0:\n"

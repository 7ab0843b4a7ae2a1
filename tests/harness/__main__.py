"""python3 -m tests.harness deps|daemon|image|cloudimage|demo|clean

`deps` runs with the system python3 (stdlib only); the others from the venv.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from .paths import DEMO_DISKS_DIR, DEMO_POOL, DEMO_PREFIX

DEMO_GUESTS = 3
TEST_PREFIX = "kvmtui-test-"


def cmd_deps() -> int:
    from .deps import ensure_packages

    return ensure_packages()


def cmd_daemon() -> int:
    from . import daemon

    if daemon.daemon_answers(daemon.SYSTEM_URI):
        print(f"daemon: libvirtd already answers on {daemon.SYSTEM_URI}; left alone")
    else:
        seconds = daemon.start_daemon()
        print(f"daemon: libvirtd started and answering in {seconds:.1f} s")
    if daemon.tcp_listening():
        print(f"daemon: TCP listens on 127.0.0.1:16509 ({daemon.TCP_URI})")
    else:
        print(
            "daemon: TCP 127.0.0.1:16509 is NOT listening; the tcp_uri tests will fail "
            "(restart libvirtd with --listen, see tests/harness/daemon.py)"
        )
    return 0


def cmd_daemon2(action: str) -> int:
    from . import daemon2

    if action == "start":
        seconds = daemon2.start()
        print(f"daemon2: {daemon2.status()} (ready in {seconds:.1f} s)")
    elif action == "stop":
        daemon2.stop()
        print(f"daemon2: stopped; namespace {daemon2.NETNS} and its veth pair removed")
    else:
        print(f"daemon2: {daemon2.status()}")
        return 0 if daemon2.running() else 1
    return 0


def cmd_image() -> int:
    from .image import build_image

    started = time.monotonic()
    image = build_image()
    print(f"image: {image.kernel} {image.initrd} ready in {time.monotonic() - started:.1f} s")
    return 0


def cmd_cloudimage() -> int:
    from .cloudimage import build_cloud_image

    started = time.monotonic()
    image = build_cloud_image()
    print(f"cloudimage: {image.disk} ready in {time.monotonic() - started:.1f} s")
    return 0


def cmd_demo() -> int:
    import libvirt

    from .daemon import SYSTEM_URI, ensure_daemon
    from .guests import define_guest, disk_path, ensure_dir_pool, quiet_libvirt_errors
    from .image import build_image

    quiet_libvirt_errors()
    ensure_daemon()
    image = build_image()
    conn = libvirt.open(SYSTEM_URI)
    try:
        existing = {dom.name(): dom for dom in conn.listAllDomains(0)}
        for index in range(1, DEMO_GUESTS + 1):
            name = f"{DEMO_PREFIX}{index}"
            dom = existing.get(name)
            if dom is None:
                define_guest(conn, name, image)
                print(f"demo: defined and started {name}")
            elif not dom.isActive():
                dom.create()
                print(f"demo: started {name}")
            else:
                print(f"demo: {name} already running")
            if not disk_path(name).exists():
                print(f"demo: {name}'s disk is not in {DEMO_DISKS_DIR} (made by an older "
                      "kvmtui); `make clean-guests` and `make demo` put it there")
        done = ensure_dir_pool(conn, DEMO_POOL, DEMO_DISKS_DIR)
        if done:
            print(f"demo: storage pool {DEMO_POOL} over {DEMO_DISKS_DIR}: {', '.join(done)}")
        else:
            print(f"demo: storage pool {DEMO_POOL} already running")
    finally:
        conn.close()
    return 0


def cmd_clean() -> int:
    import libvirt

    from .daemon import SYSTEM_URI, daemon_answers
    from .guests import cleanup_guests, quiet_libvirt_errors

    if not daemon_answers(SYSTEM_URI):
        print("clean: libvirtd does not answer; nothing to do")
        return 0
    quiet_libvirt_errors()
    conn = libvirt.open(SYSTEM_URI)
    try:
        for prefix in (TEST_PREFIX, DEMO_PREFIX):
            for name in cleanup_guests(conn, prefix, spare_live_owners=False):
                print(f"clean: removed {name}")
    finally:
        conn.close()
    return 0


COMMANDS = {
    "deps": (cmd_deps, "check/install the Debian packages (system python3, stdlib only)"),
    "daemon": (cmd_daemon, "start virtlogd + libvirtd (TCP on 127.0.0.1) unless one answers"),
    "daemon2": (
        cmd_daemon2,
        "start|stop|status the second libvirtd (own namespaces, TCP on 10.251.0.2)",
    ),
    "image": (cmd_image, "build the tiny guest into .cache/guest/ if its inputs changed"),
    "cloudimage": (
        cmd_cloudimage,
        "build the cloud-init guest (debootstrap root, qcow2) into .cache/cloud/ if needed",
    ),
    "demo": (
        cmd_demo,
        f"define and start {DEMO_PREFIX}1..{DEMO_GUESTS}, their disks in pool {DEMO_POOL}",
    ),
    "clean": (cmd_clean, f"destroy and undefine {TEST_PREFIX}* and {DEMO_PREFIX}* guests"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_func, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        if name == "daemon2":
            command.add_argument("action", choices=("start", "stop", "status"))
    args = parser.parse_args(argv)
    try:
        if args.command == "daemon2":
            return cmd_daemon2(args.action)
        run: Callable[[], int] = COMMANDS[args.command][0]  # type: ignore[assignment]
        return run()
    except RuntimeError as error:  # DaemonError, ImageError: a sentence, not a traceback
        print(f"{args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The hypervisor test harness: Debian packages, a hand-run libvirtd, a tiny guest.

Modules: deps (packages), daemon (libvirtd), image (guest kernel + initramfs),
guests (libvirt-python guest definitions). Only guests imports libvirt; the rest is
standard library so `python3 -m tests.harness deps` runs before the venv exists.
"""

"""bareflow.tools.guests: the host-timing mask and the GRUB/Linux split (fast; no download)."""
from __future__ import annotations

from bareflow.tools.guests import normalise_linux, split_grub_linux


def test_normalise_masks_only_the_named_lines() -> None:
    a = (b"tsc: Fast TSC calibration failed\r\nSMBIOS 2.8 present.\r\n"
         b"audit: type=2000 audit(1796393753.544:1): state=initialized audit_enabled=0 res=1\r\n"
         b"hpet: Lost 1 RTC interrupts\r\n"
         b"smpboot: Total of 1 processors activated (4882.73 BogoMIPS)\r\n")
    b = (b"SMBIOS 2.8 present.\r\nsmpboot: Total of 1 processors activated (200.00 BogoMIPS)\r\n"
         b"audit: type=2000 audit(1704067231.336:1): state=initialized audit_enabled=0 res=1\r\n")
    assert normalise_linux(a) == normalise_linux(b)
    assert normalise_linux(a) != normalise_linux(a.replace(b"SMBIOS 2.8", b"SMBIOS 2.7"))
    assert normalise_linux(a) != normalise_linux(a.replace(b"(4882.73 BogoMIPS)", b""))


def test_split_at_the_kernel_banner() -> None:
    grub, linux = split_grub_linux(b"\x1b[H  Booting `x'\n\rLinux version 6.1\r\nmore\r\n")
    assert grub == b"\x1b[H  Booting `x'\n\r" and linux.startswith(b"Linux version 6.1")
    assert split_grub_linux(b"no kernel") == (b"no kernel", b"")

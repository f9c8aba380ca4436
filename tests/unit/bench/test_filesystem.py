"""bench/filesystem.py: which filesystem holds the benchmark's stores, told from the kernel's tables."""

from __future__ import annotations

import os

from bench.filesystem import describe, filesystem_of

# As on the benchmark's machine: the root disk is ext4 without a journal (no vda entry in
# /proc/fs/jbd2), a loop-mounted ext4 image has one, /dev/shm is tmpfs; plus an XFS data disk.
MOUNTINFO = """\
24 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
30 24 0:25 / /dev/shm rw,nosuid,nodev shared:5 - tmpfs tmpfs rw
41 24 7:0 / /tmp/wtl/jfs rw,relatime shared:20 - ext4 /dev/loop0 rw
52 24 253:1 / /var/lib/clickhouse rw,noatime shared:30 - xfs /dev/mapper/data rw,attr2,inode64
60 24 0:40 / /mnt/with\\040space rw shared:31 - tmpfs tmpfs rw
61 24 0:41 / /mnt/données\\011tab rw shared:32 - tmpfs tmpfs rw
"""
JOURNALS = ["loop0-8"]


def test_ext4_without_a_journal_is_told_apart_from_a_journaled_one():
    root = filesystem_of("/tmp/ledger-bench-x/store", MOUNTINFO, JOURNALS)
    assert (root["mount_point"], root["type"], root["device"], root["journal"]) == ("/", "ext4", "/dev/vda", False)
    assert "WITHOUT a journal" in describe(root)
    loop = filesystem_of("/tmp/wtl/jfs/bench/store", MOUNTINFO, JOURNALS)
    assert (loop["mount_point"], loop["type"], loop["journal"]) == ("/tmp/wtl/jfs", "ext4", True)
    assert describe(loop).startswith("ext4, journaled")


def test_the_deepest_mount_holding_the_path_is_the_one():
    assert filesystem_of("/dev/shm/x", MOUNTINFO, JOURNALS)["type"] == "tmpfs"
    assert filesystem_of("/dev/shm", MOUNTINFO, JOURNALS)["journal"] is None
    assert filesystem_of("/dev/shmem", MOUNTINFO, JOURNALS)["type"] == "ext4"  # a prefix of a name is not a mount
    assert filesystem_of("/var/lib/clickhouse/data", MOUNTINFO, JOURNALS)["journal"] is True  # XFS always has one
    assert filesystem_of("/mnt/with space/store", MOUNTINFO, JOURNALS)["mount_point"] == "/mnt/with space"
    assert filesystem_of("/mnt/données\ttab/x", MOUNTINFO, JOURNALS)["mount_point"] == "/mnt/données\ttab"


def test_no_journal_listed_at_all_means_none_in_use():
    assert filesystem_of("/x", MOUNTINFO, None)["journal"] is False


def test_this_machine_s_own_tables_are_read():
    here = filesystem_of(os.getcwd())
    assert here["type"] and here["mount_point"] and os.getcwd().startswith(here["mount_point"])

namespace AutoReview.Sandbox.Tests.Diagnostics;

/// <summary>/proc/self/mountinfo as seen on real machines, trimmed to the lines that matter.</summary>
internal static class MountinfoFixtures
{
    /// <summary>
    /// Inside `docker run` with the default settings: read-only proc binds over /proc/bus, /proc/sys…,
    /// /dev/null over /proc/kcore and friends, read-only tmpfs over /proc/acpi and /proc/scsi.
    /// </summary>
    public const string Docker = """
        1079 1078 0:129 / / rw,relatime master:504 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/AB:/var/lib/docker/overlay2/l/CD,upperdir=/var/lib/docker/overlay2/12/diff,workdir=/var/lib/docker/overlay2/12/work
        1080 1079 0:132 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
        1081 1079 0:133 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
        1082 1081 0:134 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666
        1083 1079 0:135 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
        1084 1083 0:136 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw
        1086 1081 0:137 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k
        1087 1079 254:1 /var/lib/docker/containers/ab/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw
        1089 1079 254:1 /var/lib/docker/containers/ab/hosts /etc/hosts rw,relatime - ext4 /dev/vda1 rw
        1090 1080 0:132 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw
        1091 1080 0:132 /fs /proc/fs ro,nosuid,nodev,noexec,relatime - proc proc rw
        1092 1080 0:132 /irq /proc/irq ro,nosuid,nodev,noexec,relatime - proc proc rw
        1093 1080 0:132 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
        1094 1080 0:132 /sysrq-trigger /proc/sysrq-trigger ro,nosuid,nodev,noexec,relatime - proc proc rw
        1095 1080 0:138 / /proc/acpi ro,relatime - tmpfs tmpfs ro
        1096 1080 0:133 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
        1097 1080 0:133 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
        1098 1080 0:133 /null /proc/timer_list rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
        1099 1080 0:139 / /proc/scsi ro,relatime - tmpfs tmpfs ro
        1100 1083 0:140 / /sys/firmware ro,relatime - tmpfs tmpfs ro

        """;

    /// <summary>A systemd host: binfmt_misc (autofs, then the real mount) is the only thing under /proc.</summary>
    public const string PlainHost = """
        22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
        23 28 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
        24 28 0:5 / /dev rw,nosuid,relatime shared:8 - devtmpfs udev rw,size=8123456k,nr_inodes=2030864,mode=755
        28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
        45 22 0:40 / /proc/sys/fs/binfmt_misc rw,relatime shared:25 - autofs systemd-1 rw,fd=30,pgrp=1,timeout=0,minproto=5,maxproto=5,direct,pipe_ino=16354
        812 45 0:52 / /proc/sys/fs/binfmt_misc rw,nosuid,nodev,noexec,relatime shared:402 - binfmt_misc binfmt_misc rw
        97 28 0:47 / /run/user/1000 rw,nosuid,nodev,relatime shared:440 - tmpfs tmpfs rw,size=1624688k,mode=700,uid=1000,gid=1000

        """;
}

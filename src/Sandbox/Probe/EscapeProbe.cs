using System.Runtime.InteropServices;
using System.Text;
using AutoReview.Sandbox.Interop;
using AutoReview.Sandbox.Seccomp;
using Tmds.Linux;
using static AutoReview.Sandbox.Interop.LinuxConstants;

namespace AutoReview.Sandbox.Probe;

/// <summary>One escape attempt made from inside a sandbox, and what happened.</summary>
public sealed record ProbeCheck(string Name, bool Ok, string Expected, string Observed);

/// <summary>What the caller expects of the sandbox the probe runs in.</summary>
public sealed record ProbeExpectations
{
    public IReadOnlyList<string> ReadOnlyPaths { get; init; } = [];
    public IReadOnlyList<string> WritablePaths { get; init; } = ["/tmp"];
    public string? Hostname { get; init; }
    /// <summary>A host pid that must be invisible and unsignalable from inside.</summary>
    public int? HostPid { get; init; }
    /// <summary>A TCP port on 127.0.0.1 that must be reachable (host network) or not (own netns).</summary>
    public int? LoopbackPort { get; init; }
    public bool ExpectHostNetwork { get; init; }
    /// <summary>An https:// URL that must be fetched successfully (the trust store inside works).</summary>
    public string? FetchUrl { get; init; }
    /// <summary>Host files the launcher held open (without CLOEXEC): no fd inside may lead to them.</summary>
    public IReadOnlyList<string> LeakedPaths { get; init; } = [];
}

/// <summary>
/// Tries, from inside a sandbox, each escape the sandbox is meant to prevent, and reports the errno.
/// Every attempt uses arguments that would fail differently (EBADF, EINVAL, EFAULT) if the call were
/// allowed, so EPERM/ENOSYS proves the seccomp filter answered, and nothing is left changed if a check
/// unexpectedly succeeds.
/// </summary>
public static unsafe class EscapeProbe
{
    public static IReadOnlyList<ProbeCheck> Run(ProbeExpectations expect)
    {
        var checks = new List<ProbeCheck>();
        foreach (string path in expect.ReadOnlyPaths.Prepend("/"))
            checks.Add(WriteCheck($"readonly:{path}", path, shouldSucceed: false));
        foreach (string path in expect.WritablePaths)
            checks.Add(WriteCheck($"writable:{path}", path, shouldSucceed: true));

        checks.Add(Denied("mount", SyscallNumber.Mount, Errno.EPERM, 0, 0, 0, 0, 0));
        checks.Add(Denied("umount2", SyscallNumber.Umount2, Errno.EPERM, 0, 0));
        checks.Add(Denied("pivot_root", SyscallNumber.PivotRoot, Errno.EPERM, 0, 0));
        checks.Add(Denied("unshare(CLONE_NEWUSER)", SyscallNumber.Unshare, Errno.EPERM, (long)CLONE_NEWUSER));
        checks.Add(Denied("setns", SyscallNumber.Setns, Errno.EPERM, -1, 0));
        // CLONE_THREAD without CLONE_SIGHAND is EINVAL if allowed, so no process can be created here.
        checks.Add(Denied("clone(CLONE_NEWUSER)", SyscallNumber.Clone, Errno.EPERM, (long)(CLONE_NEWUSER | 0x10000), 0, 0, 0, 0));
        checks.Add(Denied("clone3", SyscallNumber.Clone3, Errno.ENOSYS, 0, 0));
        checks.Add(Denied("keyctl", SyscallNumber.Keyctl, Errno.EPERM, -1, 0, 0, 0, 0));
        checks.Add(Denied("add_key", SyscallNumber.AddKey, Errno.EPERM, 0, 0, 0, 0, 0));
        checks.Add(Denied("bpf", SyscallNumber.Bpf, Errno.EPERM, -1, 0, 0));
        checks.Add(Denied("ptrace", SyscallNumber.Ptrace, Errno.EPERM, 0x4206 /* PTRACE_SEIZE */, 1, 0, 0));
        checks.Add(Denied("process_vm_readv", SyscallNumber.ProcessVmReadv, Errno.EPERM, 1, 0, 0, 0, 0, 0));
        checks.Add(Denied("io_uring_setup", SyscallNumber.IoUringSetup, Errno.EPERM, 0, 0));
        checks.Add(Denied("perf_event_open", SyscallNumber.PerfEventOpen, Errno.EPERM, 0, 0, -1, -1, 0));
        checks.Add(Denied("userfaultfd", SyscallNumber.Userfaultfd, Errno.EPERM, -1));
        checks.Add(Denied("open_tree", SyscallNumber.OpenTree, Errno.EPERM, -1, 0, 0));
        checks.Add(Denied("move_mount", SyscallNumber.MoveMount, Errno.EPERM, -1, 0, -1, 0, 0));
        checks.Add(Denied("fsopen", SyscallNumber.Fsopen, Errno.EPERM, 0, 0));
        checks.Add(Denied("mount_setattr", SyscallNumber.MountSetattr, Errno.EPERM, -1, 0, 0, 0, 0));
        checks.Add(Denied("personality(ADDR_NO_RANDOMIZE)", SyscallNumber.Personality, Errno.EPERM, 0x0040000));
        checks.Add(Denied("x32 getpid", (SyscallNumber)(0x40000000u | 39u), Errno.EPERM));
        checks.Add(Denied("ioctl(TIOCSTI)", SyscallNumber.Ioctl, Errno.EPERM, -1, 0x5412, 0));
        checks.Add(Denied("ioctl(TIOCSTI | high bits)", SyscallNumber.Ioctl, Errno.EPERM, -1, unchecked((long)0xdead000000005412), 0));
        checks.Add(Denied("ioctl(TIOCLINUX)", SyscallNumber.Ioctl, Errno.EPERM, -1, 0x541C, 0));

        // Every entry of the policy, with all-invalid arguments (EFAULT/EBADF/EINVAL if it got through),
        // so the probe and the policy cannot drift apart.
        foreach (DeniedSyscall denied in SeccompPolicy.Denied)
            checks.Add(Denied($"policy:{denied.Name}", denied.Number, denied.Errno, -1, -1, -1, -1, -1, -1));

        Dictionary<string, string> status = ReadStatus();
        foreach (string field in new[] { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" })
            checks.Add(Equal($"status:{field}", status.GetValueOrDefault(field), "0000000000000000"));
        checks.Add(Equal("status:NoNewPrivs", status.GetValueOrDefault("NoNewPrivs"), "1"));
        checks.Add(Equal("status:Seccomp", status.GetValueOrDefault("Seccomp"), "2"));

        int pid = (int)LibC.getpid();
        checks.Add(new ProbeCheck("pid-namespace:own-pid", pid is 1 or 2, "pid 1, or 2 under the sandbox's init", $"pid {pid}"));
        var visible = Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit)).ToList();
        checks.Add(new ProbeCheck("pid-namespace:visible-processes", visible.Count <= 2, "only init and the probe", string.Join(",", visible)));
        if (expect.HostPid is { } hostPid)
        {
            int killResult = LibC.kill(hostPid, 0);
            int killErrno = killResult == 0 ? 0 : Marshal.GetLastPInvokeError();
            checks.Add(new ProbeCheck("pid-namespace:signal-host-process", killErrno == Errno.ESRCH, "ESRCH", Outcome(killResult, killErrno)));
        }

        // The runtime opens its own fds (epoll, pipes) after exec, so "no fd above 2" cannot be judged
        // from here. What matters is that no fd leads to a host file the launcher held open.
        var fdTargets = Directory.EnumerateFileSystemEntries("/proc/self/fd")
            .Select(fd => $"{Path.GetFileName(fd)}->{new FileInfo(fd).LinkTarget}").ToList();
        foreach (string leaked in expect.LeakedPaths)
        {
            bool found = fdTargets.Any(t => t.EndsWith("->" + leaked, StringComparison.Ordinal));
            checks.Add(new ProbeCheck($"fds:no-leaked-host-fd:{leaked}", !found, "no fd to it", string.Join(" ", fdTargets)));
        }

        if (Environment.ProcessPath is { } self)
            checks.Add(OpenCheck("own-binary:open-for-write", self, O_WRONLY));
        checks.Add(OpenCheck("self-exe:open-for-write", "/proc/self/exe", O_WRONLY));
        checks.Add(OpenCheck("init-exe:open-for-write", "/proc/1/exe", O_WRONLY));
        checks.Add(OpenCheck("init-mem:open", "/proc/1/mem", 2 /* O_RDWR */));

        if (expect.Hostname is { } hostname)
            checks.Add(Equal("uts:hostname", Environment.MachineName, hostname));

        string[] interfaces = File.ReadAllLines("/proc/net/dev").Skip(2).Select(l => l.Split(':')[0].Trim()).ToArray();
        if (!expect.ExpectHostNetwork)
            checks.Add(Equal("network:interfaces", string.Join(",", interfaces), "lo"));
        checks.Add(LoopbackWorks());
        if (expect.LoopbackPort is { } port)
        {
            int connectErrno = TryConnect(port);
            checks.Add(new ProbeCheck($"network:host-port-{port}", (connectErrno == 0) == expect.ExpectHostNetwork,
                expect.ExpectHostNetwork ? "connected" : "ECONNREFUSED (own network namespace)",
                connectErrno == 0 ? "connected" : Errno.Name(connectErrno)));
        }
        if (expect.FetchUrl is { } url)
            checks.Add(Fetch(url));
        return checks;
    }

    private static ProbeCheck Fetch(string url)
    {
        try
        {
            using var client = new System.Net.Http.HttpClient { Timeout = TimeSpan.FromSeconds(20) };
            using var response = client.GetAsync(url).GetAwaiter().GetResult();
            return new ProbeCheck($"https:{url}", response.IsSuccessStatusCode, "2xx", $"HTTP {(int)response.StatusCode}");
        }
        catch (Exception e) when (e is System.Net.Http.HttpRequestException or TaskCanceledException)
        {
            return new ProbeCheck($"https:{url}", false, "2xx", $"{e.Message} {e.InnerException?.Message}");
        }
    }

    private static ProbeCheck Denied(string name, SyscallNumber nr, int expectedErrno, params long[] args)
    {
        long result = Syscall(nr, args);
        int errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
        return new ProbeCheck($"syscall:{name}", result < 0 && errno == expectedErrno, Errno.Name(expectedErrno), Outcome(result, errno));
    }

    private static long Syscall(SyscallNumber nr, long[] a)
    {
        long Arg(int i) => i < a.Length ? a[i] : 0;
        return RawSyscall.Invoke(nr, Arg(0), Arg(1), Arg(2), Arg(3), Arg(4), Arg(5));
    }

    private static ProbeCheck WriteCheck(string name, string dir, bool shouldSucceed)
    {
        string path = Path.Combine(dir, $".probe-{Environment.ProcessId}");
        try
        {
            File.WriteAllText(path, "x");
            File.Delete(path);
            return new ProbeCheck(name, shouldSucceed, shouldSucceed ? "writable" : "EROFS", "written");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            bool readOnly = e.HResult == Errno.EROFS || e.Message.Contains("Read-only file system", StringComparison.Ordinal);
            return new ProbeCheck(name, !shouldSucceed && readOnly, shouldSucceed ? "writable" : "EROFS", e.Message);
        }
    }

    private static ProbeCheck OpenCheck(string name, string path, int flags)
    {
        byte[] z = Encoding.UTF8.GetBytes(path + "\0");
        int fd;
        int errno;
        fixed (byte* p = z)
        {
            fd = LibC.open(p, flags | O_CLOEXEC, 0);
            errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
        }
        if (fd >= 0) LibC.close(fd);
        return new ProbeCheck(name, fd < 0, "refused", Outcome(fd, errno));
    }

    private static ProbeCheck Equal(string name, string? observed, string expected) =>
        new(name, observed == expected, expected, observed ?? "(missing)");

    private static Dictionary<string, string> ReadStatus() =>
        File.ReadAllLines("/proc/self/status")
            .Select(line => line.Split(':', 2))
            .Where(parts => parts.Length == 2)
            .ToDictionary(parts => parts[0], parts => parts[1].Trim());

    private static ProbeCheck LoopbackWorks()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        try
        {
            listener.Start();
            int errno = TryConnect(((System.Net.IPEndPoint)listener.LocalEndpoint).Port);
            return new ProbeCheck("network:loopback-up", errno == 0, "connected", errno == 0 ? "connected" : Errno.Name(errno));
        }
        catch (System.Net.Sockets.SocketException e)
        {
            return new ProbeCheck("network:loopback-up", false, "connected", e.SocketErrorCode.ToString());
        }
    }

    private static int TryConnect(int port)
    {
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        try
        {
            client.Connect(System.Net.IPAddress.Loopback, port);
            return 0;
        }
        catch (System.Net.Sockets.SocketException e)
        {
            return e.NativeErrorCode;
        }
    }

    private static string Outcome(long result, int errno) => result < 0 ? Errno.Name(errno) : $"succeeded ({result})";
}

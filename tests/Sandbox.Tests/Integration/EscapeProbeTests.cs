using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Sandbox.Tests.Integration;

/// <summary>
/// Runs `auto-review sandbox probe` inside a real sandbox, once with its own network and once with the
/// host's, while the launcher holds a leaked (non-CLOEXEC) fd to a host file, and keeps the checks.
/// </summary>
public sealed class ProbeRun : IDisposable
{
    private readonly TestRootFs _root = new();
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Lazy<Dictionary<string, (bool Ok, string Observed)>> _isolated;
    private readonly Lazy<Dictionary<string, (bool Ok, string Observed)>> _hostNetwork;

    public ProbeRun()
    {
        _listener.Start();
        LeakedFile = Path.Combine(_root.Path, "..", $"{Path.GetFileName(_root.Path)}-leaked");
        File.WriteAllText(LeakedFile, "host secret");
        LeakedFile = Path.GetFullPath(LeakedFile);
        _isolated = new(() => Probe("none", "--ro-bind", "/usr", "/data"));
        _hostNetwork = new(() => Probe("host", "--host-network"));
    }

    public string LeakedFile { get; }
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public Dictionary<string, (bool Ok, string Observed)> Isolated => _isolated.Value;
    public Dictionary<string, (bool Ok, string Observed)> HostNetwork => _hostNetwork.Value;

    private Dictionary<string, (bool Ok, string Observed)> Probe(string network, params string[] extra)
    {
        bool hostNet = extra.Contains("--host-network");
        string[] mounts = hostNet ? [] : extra;
        string[] probeArgs = hostNet ? ["--host-network"] : ["--expect-ro", "/usr", "--expect-ro", "/data"];
        // The shell opens fd 7 on a host file without CLOEXEC and execs the launcher with it (CVE-2024-21626 class).
        string[] launch =
        [
            .. _root.RunArgs(["--hostname", "probe-host", "--network", network, .. mounts]),
            "--", "/probe", "sandbox", "probe", "--json", "--expect-hostname", "probe-host",
            "--host-pid", Environment.ProcessId.ToString(), "--port", Port.ToString(), "--leaked-path", LeakedFile, .. probeArgs,
        ];
        string script = "exec 7<\"$0\"; exec \"$@\"";
        CommandResult result = Commands.Run("/bin/sh", ["-c", script, LeakedFile, AutoReviewBinary.Path, .. launch]);
        result.Stderr.ShouldBeEmpty(result.ToString());
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        return doc.RootElement.GetProperty("checks").EnumerateArray().ToDictionary(
            c => c.GetProperty("name").GetString()!,
            c => (c.GetProperty("ok").GetBoolean(), $"expected {c.GetProperty("expected").GetString()}, observed {c.GetProperty("observed").GetString()}"));
    }

    public void Dispose()
    {
        _listener.Stop();
        File.Delete(LeakedFile);
        _root.Dispose();
    }
}

[Trait("Category", "Sandbox")]
public sealed class EscapeProbeTests(ProbeRun run) : IClassFixture<ProbeRun>
{
    private void ShouldHold(params string[] checks) => ShouldHold(() => run.Isolated, checks);

    private static void ShouldHold(Func<Dictionary<string, (bool Ok, string Observed)>> probe, params string[] checks)
    {
        Capability.RequireUserNamespaces();
        Dictionary<string, (bool Ok, string Observed)> results = probe();
        foreach (string check in checks)
        {
            results.ShouldContainKey(check);
            results[check].Ok.ShouldBeTrue($"{check}: {results[check].Observed}");
        }
    }

    [SkippableFact]
    public void EveryProbeCheck_Holds()
    {
        Capability.RequireUserNamespaces();
        run.Isolated.Where(c => !c.Value.Ok).Select(c => $"{c.Key}: {c.Value.Observed}").ShouldBeEmpty();
    }

    [SkippableFact]
    public void EverySyscallThePolicyDenies_IsDeniedInside()
    {
        Capability.RequireUserNamespaces();
        var policyChecks = run.Isolated.Where(c => c.Key.StartsWith("syscall:policy:", StringComparison.Ordinal)).ToList();
        policyChecks.Count.ShouldBe(AutoReview.Sandbox.Seccomp.SeccompPolicy.Denied.Count);
        policyChecks.Where(c => !c.Value.Ok).Select(c => $"{c.Key}: {c.Value.Observed}").ShouldBeEmpty();
    }

    [SkippableFact]
    public void RootAndReadOnlyBinds_AreReadOnly() => ShouldHold("readonly:/", "readonly:/usr", "readonly:/data");

    [SkippableFact]
    public void Tmp_IsWritable() => ShouldHold("writable:/tmp");

    [SkippableFact]
    public void MountApi_IsDenied() =>
        ShouldHold("syscall:mount", "syscall:umount2", "syscall:pivot_root", "syscall:open_tree", "syscall:move_mount",
            "syscall:fsopen", "syscall:mount_setattr");

    [SkippableFact]
    public void NestedNamespaces_AreDenied() =>
        ShouldHold("syscall:unshare(CLONE_NEWUSER)", "syscall:setns", "syscall:clone(CLONE_NEWUSER)");

    [SkippableFact]
    public void Clone3_ReturnsEnosys_SoNamespaceFlagsCannotHideInMemory() => ShouldHold("syscall:clone3");

    [SkippableFact]
    public void KernelAttackSurface_KeyringsBpfPerfUserfaultfdIoUring_IsDenied() =>
        ShouldHold("syscall:keyctl", "syscall:add_key", "syscall:bpf", "syscall:perf_event_open", "syscall:userfaultfd",
            "syscall:io_uring_setup");

    [SkippableFact]
    public void Ptrace_AndProcessVm_AreDenied() => ShouldHold("syscall:ptrace", "syscall:process_vm_readv");

    [SkippableFact]
    public void X32AbiBypassOfTheFilter_IsDenied() => ShouldHold("syscall:x32 getpid");

    [SkippableFact]
    public void TerminalInjection_TIOCSTI_TIOCLINUX_IsDenied_EvenWithHighBits() =>
        ShouldHold("syscall:ioctl(TIOCSTI)", "syscall:ioctl(TIOCSTI | high bits)", "syscall:ioctl(TIOCLINUX)");

    [SkippableFact]
    public void Personality_AslrDisabling_IsDenied() => ShouldHold("syscall:personality(ADDR_NO_RANDOMIZE)");

    [SkippableFact]
    public void Capabilities_AreAllDropped() =>
        ShouldHold("status:CapInh", "status:CapPrm", "status:CapEff", "status:CapBnd", "status:CapAmb");

    [SkippableFact]
    public void NoNewPrivs_AndSeccompFilter_AreSet() => ShouldHold("status:NoNewPrivs", "status:Seccomp");

    [SkippableFact]
    public void PidNamespace_HidesHostProcesses_AndCannotSignalThem() =>
        ShouldHold("pid-namespace:own-pid", "pid-namespace:visible-processes", "pid-namespace:signal-host-process");

    [SkippableFact]
    public void LeakedHostFd_CVE_2024_21626_IsNotInherited() => ShouldHold($"fds:no-leaked-host-fd:{run.LeakedFile}");

    [SkippableFact]
    public void LauncherBinaryOverwrite_CVE_2019_5736_IsRefused() =>
        ShouldHold("self-exe:open-for-write", "own-binary:open-for-write", "init-exe:open-for-write");

    [SkippableFact]
    public void InitMemory_WhichCopiesTheLauncher_CannotBeOpened() => ShouldHold("init-mem:open");

    [SkippableFact]
    public void Hostname_IsIsolated() => ShouldHold("uts:hostname");

    [SkippableFact]
    public void NetworkNone_HasOnlyLoopback_AndCannotReachHostPorts() =>
        ShouldHold("network:interfaces", "network:loopback-up", $"network:host-port-{run.Port}");

    [SkippableFact]
    public void NetworkHost_ReachesAHostLoopbackServer() =>
        ShouldHold(() => run.HostNetwork, $"network:host-port-{run.Port}", "syscall:mount", "status:CapEff", "status:Seccomp");
}

using System.Globalization;
using System.Text;

namespace AutoReview.Sandbox.Diagnostics;

/// <summary>
/// What this machine and this process look like to a sandbox launcher: the sysctls and process state
/// that decide whether unprivileged namespaces work. Read only to explain a failure, so every fact is
/// best-effort: a missing, unreadable or garbled file gives null (or the documented default), never an
/// exception that would hide the original error.
/// </summary>
public sealed record HostFacts
{
    /// <summary>
    /// <c>user.max_user_namespaces</c>: how many user namespaces each user may hold. 0 disables user
    /// namespaces for everyone, root included.
    /// </summary>
    public int? MaxUserNamespaces { get; init; }

    /// <summary>
    /// <c>kernel.unprivileged_userns_clone</c>, from Debian's (and some other distributions') out-of-tree
    /// patch. 0 refuses user namespaces to callers without CAP_SYS_ADMIN. Absent on most kernels.
    /// </summary>
    public int? UnprivilegedUsernsClone { get; init; }

    /// <summary>
    /// <c>kernel.apparmor_restrict_unprivileged_userns</c> (Ubuntu 23.10 and later). 1 lets an unconfined,
    /// unprivileged program create a user namespace but denies it every capability inside, unless an
    /// AppArmor profile grants <c>userns,</c>.
    /// </summary>
    public int? AppArmorRestrictUnprivilegedUserns { get; init; }

    /// <summary>
    /// The <c>Seccomp:</c> mode of this process: 0 none, 1 strict, 2 filter. 2 before the launcher installs
    /// anything means an outer filter (typically a container runtime's) already applies. Null when the
    /// kernel has no seccomp at all, since the line is then missing.
    /// </summary>
    public int? SeccompMode { get; init; }

    /// <summary>Whether no_new_privs is already set on this process (the <c>NoNewPrivs:</c> line).</summary>
    public bool? NoNewPrivs { get; init; }

    /// <summary>
    /// Mount points strictly below /proc, from <c>self/mountinfo</c>, apart from /proc/sys/fs/binfmt_misc
    /// (which sits on a permanently empty directory, so the kernel ignores it). Container runtimes mask
    /// /proc this way: /dev/null over /proc/kcore, a tmpfs over /proc/acpi, read-only binds over /proc/sys.
    /// </summary>
    public IReadOnlyList<string> ProcSubmounts { get; init; } = [];

    /// <summary>
    /// /proc is partly hidden. The kernel then refuses a fresh proc mount in a new user namespace
    /// (mnt_too_revealing): the new mount would reveal what the masks hide.
    /// </summary>
    public bool ProcIsMasked => ProcSubmounts.Count > 0;

    /// <summary>
    /// The container runtime this process seems to run under ("docker", "podman", "kubernetes",
    /// "containerd", or pid 1's <c>container=</c> value such as "lxc"), or null when nothing says so.
    /// A hint for messages, not a security decision.
    /// </summary>
    public string? ContainerHint { get; init; }

    /// <summary>The real uid of this process (the <c>Uid:</c> line), or -1 when unknown.</summary>
    public int Uid { get; init; } = -1;

    /// <summary>Reads the facts from a proc tree; tests point <paramref name="procRoot"/> at a fixture.</summary>
    public static HostFacts Read(string procRoot = "/proc")
    {
        var status = ParseStatus(ReadText(procRoot, "self/status"));
        return new HostFacts
        {
            MaxUserNamespaces = ParseInt(ReadText(procRoot, "sys/user/max_user_namespaces")),
            UnprivilegedUsernsClone = ParseInt(ReadText(procRoot, "sys/kernel/unprivileged_userns_clone")),
            AppArmorRestrictUnprivilegedUserns =
                ParseInt(ReadText(procRoot, "sys/kernel/apparmor_restrict_unprivileged_userns")),
            SeccompMode = ParseInt(status.GetValueOrDefault("Seccomp")),
            NoNewPrivs = ParseInt(status.GetValueOrDefault("NoNewPrivs")) switch
            {
                0 => false,
                1 => true,
                _ => null,
            },
            ProcSubmounts = ParseProcSubmounts(ReadText(procRoot, "self/mountinfo")),
            ContainerHint = ContainerFromEnviron(ReadText(procRoot, "1/environ"))
                ?? ContainerFromCgroup(ReadText(procRoot, "self/cgroup"))
                ?? ContainerFromCgroup(ReadText(procRoot, "1/cgroup")),
            Uid = ParseInt(FirstField(status.GetValueOrDefault("Uid"))) ?? -1,
        };
    }

    private static string? ReadText(string procRoot, string relativePath)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procRoot, relativePath));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Absent on this kernel, or not ours to read (another user's 1/environ): an unknown fact.
            return null;
        }
    }

    private static int? ParseInt(string? text) =>
        int.TryParse(text?.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : null;

    private static string? FirstField(string? text) =>
        text?.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();

    /// <summary>"Key:\tvalue" lines of /proc/PID/status, by key.</summary>
    private static Dictionary<string, string> ParseStatus(string? status)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in (status ?? "").Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon > 0)
                fields.TryAdd(line[..colon], line[(colon + 1)..].Trim());
        }
        return fields;
    }

    private static IReadOnlyList<string> ParseProcSubmounts(string? mountinfo)
    {
        var below = new List<string>();
        foreach (var line in (mountinfo ?? "").Split('\n'))
        {
            // "36 35 98:0 /root /mnt/point rw,noatime master:1 - ext3 /dev/root rw": field 5 is the mount point.
            var fields = line.Split(' ');
            if (fields.Length < 5)
                continue;
            var mountPoint = Unescape(fields[4]);
            if (mountPoint.StartsWith("/proc/", StringComparison.Ordinal)
                && mountPoint != "/proc/sys/fs/binfmt_misc"
                && !below.Contains(mountPoint))
            {
                below.Add(mountPoint);
            }
        }
        return below;
    }

    /// <summary>The kernel writes space, tab, newline and backslash in mount points as \ooo octal.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\'))
            return field;
        var text = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && IsOctal(field, i + 1))
            {
                text.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                text.Append(field[i]);
            }
        }
        return text.ToString();
    }

    private static bool IsOctal(string text, int start) =>
        start + 3 <= text.Length && text.AsSpan(start, 3).IndexOfAnyExceptInRange('0', '7') < 0;

    /// <summary>Runtimes such as Podman, LXC and systemd-nspawn tell pid 1 <c>container=NAME</c>.</summary>
    private static string? ContainerFromEnviron(string? environ) =>
        (environ ?? "").Split('\0')
            .Where(entry => entry.StartsWith("container=", StringComparison.Ordinal))
            .Select(entry => entry["container=".Length..])
            .FirstOrDefault(name => name.Length > 0);

    /// <summary>
    /// Runtimes name their cgroups after themselves. Kubernetes is checked first because its paths also
    /// carry the name of the runtime underneath ("kubepods/…/docker-…").
    /// </summary>
    private static string? ContainerFromCgroup(string? cgroup) =>
        cgroup is null ? null
        : cgroup.Contains("kubepods", StringComparison.Ordinal) ? "kubernetes"
        : cgroup.Contains("libpod", StringComparison.Ordinal) ? "podman"
        : cgroup.Contains("docker", StringComparison.Ordinal) ? "docker"
        : cgroup.Contains("containerd", StringComparison.Ordinal) ? "containerd"
        : null;
}

using System.Text.Json;
using AutoReview.Bundle;
using AutoReview.Bundle.Layer;
using AutoReview.Sandbox;
using AutoReview.Sandbox.Interop;
using AutoReview.Sandbox.Seccomp;

namespace AutoReview.Cli;

/// <summary>
/// `bundle export --runtime-bundle DIR`: rootfs/ plus a config.json (OCI runtime-spec 1.0) that states what
/// `auto-review sandbox run` applies to the embedded bundle, so runc or crun can run the same thing. It lives
/// in the Cli because it joins the two halves: the bundle's contents and the sandbox's isolation.
/// </summary>
internal static class RuntimeBundle
{
    public static void Write(string directory, EmbeddedPayload payload)
    {
        if (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
            throw new BundleException($"{directory}: exists and is not empty; give a new directory");
        string rootfs = Path.Combine(directory, "rootfs");
        Directory.CreateDirectory(rootfs);
        using (Stream layer = payload.OpenLayer())
            LayerExtractor.Extract(layer, rootfs, new ExtractOptions { ExpectedDigest = payload.Manifest.LayerDigest });
        // An export belongs to the user, who must be able to delete it: directories get u+w back (the files stay
        // read-only, as a runtime mounts the root read-only anyway). Only the cache keeps read-only directories.
        LayerExtractor.MakeWritable(rootfs);
        using var file = new FileStream(Path.Combine(directory, "config.json"), FileMode.CreateNew, FileAccess.Write);
        WriteConfig(file, payload.Manifest.Spec, EmbeddedBundle.Executable, LinuxHostView.Instance.Uid, LinuxHostView.Instance.Gid);
    }

    public static void WriteConfig(Stream output, RootfsSpec spec, string executable, uint hostUid, uint hostGid)
    {
        using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        SpecConfig config = spec.Config;
        json.WriteStartObject();
        json.WriteString("ociVersion", "1.0.2");

        json.WriteStartObject("process");
        json.WriteBoolean("terminal", false);
        json.WriteStartObject("user");
        json.WriteNumber("uid", spec.User.Uid);
        json.WriteNumber("gid", spec.User.Gid);
        json.WriteEndObject();
        Strings(json, "args", config.Entrypoint);
        Strings(json, "env", config.Env);
        json.WriteString("cwd", config.Cwd);
        json.WriteStartObject("capabilities");
        foreach (string set in new[] { "bounding", "effective", "inheritable", "permitted", "ambient" })
            Strings(json, set, []);
        json.WriteEndObject();
        json.WriteBoolean("noNewPrivileges", true);
        json.WriteEndObject();

        json.WriteStartObject("root");
        json.WriteString("path", "rootfs");
        json.WriteBoolean("readonly", true);
        json.WriteEndObject();
        json.WriteString("hostname", config.Hostname);

        json.WriteStartArray("mounts");
        Mount(json, "/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]);
        Mount(json, "/dev", "tmpfs", "tmpfs", ["nosuid", "noexec", "mode=755", "size=64k"]);
        Mount(json, "/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]);
        Mount(json, "/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777"]);
        foreach (SpecMount mount in config.WritableMounts)
            Mount(json, mount.Destination, mount.Type, mount.Type, ["nosuid", "nodev", mount.Destination == "/tmp" ? "mode=1777" : "mode=755"]);
        Mount(json, "/usr/bin/auto-review", "bind", executable, ["rbind", "ro", "nosuid", "nodev"]);
        json.WriteEndArray();

        json.WriteStartObject("linux");
        IdMapping(json, "uidMappings", spec.User.Uid, hostUid);
        IdMapping(json, "gidMappings", spec.User.Gid, hostGid);
        json.WriteStartArray("namespaces");
        foreach (string ns in new[] { "user", "mount", "pid", "ipc", "uts", "cgroup", "network" })
        {
            json.WriteStartObject();
            json.WriteString("type", ns);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        Seccomp(json);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>
    /// The launcher's BPF policy in runtime-spec form. Differences, because libseccomp cannot say the same
    /// thing: other ABIs (i386, x32) are killed as "bad architecture" rather than answered with EPERM, and
    /// personality's two-value allowance is not expressed.
    /// </summary>
    private static void Seccomp(Utf8JsonWriter json)
    {
        json.WriteStartObject("seccomp");
        json.WriteString("defaultAction", "SCMP_ACT_ALLOW");
        Strings(json, "architectures", ["SCMP_ARCH_X86_64"]);
        json.WriteStartArray("syscalls");
        foreach (var group in SeccompPolicy.Denied.GroupBy(d => d.Errno))
            SyscallRule(json, group.Select(d => d.Name), group.Key, []);
        const ulong namespaceFlags = LinuxConstants.NamespaceFlags & ~LinuxConstants.CLONE_NEWTIME;
        for (ulong flag = 1; flag != 0 && flag <= namespaceFlags; flag <<= 1)
            if ((namespaceFlags & flag) != 0)
                SyscallRule(json, ["clone"], Errno.EPERM, [(0, flag, flag)]);
        SyscallRule(json, ["ioctl"], Errno.EPERM, [(1, 0xffffffff, 0x5412)]); // TIOCSTI
        SyscallRule(json, ["ioctl"], Errno.EPERM, [(1, 0xffffffff, 0x541C)]); // TIOCLINUX
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void SyscallRule(Utf8JsonWriter json, IEnumerable<string> names, int errno, (int Index, ulong Mask, ulong Value)[] maskedEquals)
    {
        json.WriteStartObject();
        Strings(json, "names", names);
        json.WriteString("action", "SCMP_ACT_ERRNO");
        json.WriteNumber("errnoRet", errno);
        if (maskedEquals.Length > 0)
        {
            json.WriteStartArray("args");
            foreach ((int index, ulong mask, ulong value) in maskedEquals)
            {
                json.WriteStartObject();
                json.WriteNumber("index", index);
                json.WriteNumber("value", mask);
                json.WriteNumber("valueTwo", value);
                json.WriteString("op", "SCMP_CMP_MASKED_EQ");
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        json.WriteEndObject();
    }

    private static void Mount(Utf8JsonWriter json, string destination, string type, string source, string[] options)
    {
        json.WriteStartObject();
        json.WriteString("destination", destination);
        json.WriteString("type", type);
        json.WriteString("source", source);
        Strings(json, "options", options);
        json.WriteEndObject();
    }

    private static void IdMapping(Utf8JsonWriter json, string name, int inside, uint host)
    {
        json.WriteStartArray(name);
        json.WriteStartObject();
        json.WriteNumber("containerID", inside);
        json.WriteNumber("hostID", host);
        json.WriteNumber("size", 1);
        json.WriteEndObject();
        json.WriteEndArray();
    }

    private static void Strings(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (string value in values) json.WriteStringValue(value);
        json.WriteEndArray();
    }
}

using AutoReview.Sandbox;

namespace AutoReview.Cli;

/// <summary>
/// The options of `sandbox run`, parsed in order. Mount options take two operands like bubblewrap's
/// and their order matters (a later mount may nest in an earlier one), which CommandLineParser cannot
/// express (ADR 0002), so this small parser handles exactly these options.
/// </summary>
internal sealed record SandboxRunArguments
{
    public string? RootFs { get; init; }
    public List<MountSpec> Mounts { get; } = [];
    public List<KeyValuePair<string, string>> Environment { get; } = [];
    /// <summary>Null: the bundle's working directory (/work), or / with --rootfs.</summary>
    public string? WorkingDirectory { get; init; }
    public string Hostname { get; init; } = "auto-review";
    public NetworkChoice Network { get; init; } = NetworkChoice.None;
    /// <summary>With <see cref="NetworkChoice.Proxy"/>: the host[:port] entries the egress proxy lets through.</summary>
    public List<string> AllowHosts { get; } = [];
    public uint Uid { get; init; } = 65532;
    public uint Gid { get; init; } = 65532;
    public bool Bare { get; init; }
    /// <summary>Extra trust anchors (PEM), added to the bundle's CA file for git, OpenSSL and .NET inside.</summary>
    public List<string> CaFiles { get; } = [];
    public bool Help { get; init; }
    public IReadOnlyList<string> Command { get; init; } = [];

    public const string Usage = """
        Usage: auto-review sandbox run [OPTIONS] -- COMMAND [ARGS...]

        Runs COMMAND in new user, mount, pid, ipc, uts, cgroup and network namespaces over a read-only
        root, with no capabilities, no_new_privs and a seccomp filter. The environment starts empty.

          --rootfs DIR            directory to use as the read-only root (default: the embedded
                                  bundle, with its environment, its tmpfs mounts and this
                                  executable at /usr/bin/auto-review)
          --ro-bind SRC DST       bind SRC from the host at DST, read-only
          --bind SRC DST          bind SRC from the host at DST, writable
          --tmpfs DST             mount a fresh tmpfs at DST (mount points under it are created)
          --setenv VAR VALUE      set an environment variable (none is inherited)
          --chdir DIR             working directory inside (default /work in the bundle, else /)
          --hostname NAME         hostname inside (default auto-review)
          --network none|proxy|host
                                  none: own network namespace with loopback only (default);
                                  proxy: as none, plus an egress proxy at 127.0.0.1:3128 inside
                                  (HTTPS_PROXY is set) that lets through only --allow-host
                                  entries and logs every denial; host: share the host's network
          --allow-host HOST[:PORT]
                                  with --network proxy: allow CONNECT to HOST (port 443 unless
                                  given; *.example.com for subdomains; repeatable)
          --uid N, --gid N        ids inside (default 65532, the bundle's auto_review user)
          --ca-file PEM           also trust these CA certificates inside (embedded bundle only;
                                  repeatable): a private forge, a corporate TLS proxy
          --bare                  run COMMAND on the host WITHOUT isolation (prints a warning)
          -h, --help              show this help

        Mounts are applied in the order given. /proc, a minimal /dev and a tmpfs /tmp are always mounted.
        Exit status: COMMAND's own, 128+N if it was killed by signal N, 125 if the sandbox could not be
        set up, 126 if COMMAND could not be executed, 127 if it was not found, 2 for a usage error.
        """;

    public static SandboxRunArguments Parse(IReadOnlyList<string> args)
    {
        var result = new SandboxRunArguments();
        int i = 0;
        string Operand(string option)
        {
            if (i + 1 >= args.Count)
                throw new UsageException($"{option} expects a value");
            return args[++i];
        }

        for (; i < args.Count; i++)
        {
            string arg = args[i];
            switch (arg)
            {
                case "--":
                    return result with { Command = args.Skip(i + 1).ToList() };
                case "-h" or "--help":
                    result = result with { Help = true };
                    break;
                case "--rootfs":
                    result = result with { RootFs = Operand(arg) };
                    break;
                case "--ro-bind" or "--bind":
                    string source = Operand(arg), destination = Operand(arg);
                    result.Mounts.Add(new MountSpec(arg == "--bind" ? MountKind.Bind : MountKind.ReadOnlyBind, destination, source));
                    break;
                case "--tmpfs":
                    result.Mounts.Add(new MountSpec(MountKind.Tmpfs, Operand(arg)));
                    break;
                case "--setenv":
                    string name = Operand(arg), value = Operand(arg);
                    if (name.Length == 0 || name.Contains('='))
                        throw new UsageException($"--setenv {name}: a variable name must be non-empty and contain no '='");
                    result.Environment.Add(new(name, value));
                    break;
                case "--chdir":
                    result = result with { WorkingDirectory = Operand(arg) };
                    break;
                case "--hostname":
                    result = result with { Hostname = Operand(arg) };
                    break;
                case "--network":
                    result = result with { Network = NetworkChoices.Parse(Operand(arg)) };
                    break;
                case "--allow-host":
                    result.AllowHosts.Add(Operand(arg));
                    break;
                case "--uid":
                    result = result with { Uid = Id(arg, Operand(arg)) };
                    break;
                case "--gid":
                    result = result with { Gid = Id(arg, Operand(arg)) };
                    break;
                case "--ca-file":
                    result.CaFiles.Add(Operand(arg));
                    break;
                case "--bare":
                    result = result with { Bare = true };
                    break;
                default:
                    if (arg.StartsWith('-'))
                        throw new UsageException($"unknown option {arg}");
                    // Like bwrap, the command may follow the options without "--".
                    return result with { Command = args.Skip(i).ToList() };
            }
        }
        return result;
    }

    /// <summary>Option combinations that cannot work, found before anything is started.</summary>
    public void Validate()
    {
        if (AllowHosts.Count > 0 && Network != NetworkChoice.Proxy)
            throw new UsageException("--allow-host works with --network proxy only");
        if (Network == NetworkChoice.Proxy && Bare)
            throw new UsageException("--network proxy needs the sandbox; it cannot be combined with --bare");
    }

    private static uint Id(string option, string value) =>
        uint.TryParse(value, out uint id) && id < uint.MaxValue ? id : throw new UsageException($"{option} {value}: expected a number");
}

/// <summary>A command-line mistake: reported in one line with the usage hint, exit status 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

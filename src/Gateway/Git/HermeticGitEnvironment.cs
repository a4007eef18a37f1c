namespace AutoReview.Gateway.Git;

/// <summary>
/// The environment and the <c>-c</c> options for running git on untrusted repositories. The environment is built
/// from scratch: nothing of this process is inherited except the variables the caller names explicitly, and even
/// those may not be ones that steer git into running programs or reading other repositories or config.
/// </summary>
/// <remarks>
/// <para>Config precedence: command-line <c>-c</c> beats repository config, so every key a hostile
/// <c>.git/config</c> could use to run a program on the commands we run (hooks, fsmonitor, external diff, pager,
/// askpass, credential helpers) is overridden here. System and global config are switched off.</para>
/// <para><c>uploadpack.packObjectsHook</c> is not set: git honours it only from protected configuration (system,
/// global, command line), never from a repository's config, and we load neither system nor global config;
/// setting it to an empty value would make upload-pack try to run an empty command.</para>
/// <para><c>core.symlinks=false</c>: nothing is ever checked out (clones are bare, local sources are read through
/// their git directory), but if anything ever did check out, a symlink becomes a plain file holding its target
/// instead of a link that could point out of the workspace.</para>
/// </remarks>
public sealed class HermeticGitEnvironment
{
    /// <summary>Variables that are never set, whatever the caller asks for: each one makes git run a program,
    /// load code, read config or objects from elsewhere, or change which repository it works on.</summary>
    public static readonly IReadOnlySet<string> ForbiddenNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM",
        "GIT_ASKPASS", "SSH_ASKPASS", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT", "GIT_PROXY_COMMAND",
        "GIT_ALLOW_PROTOCOL", "GIT_PROTOCOL_FROM_USER", "GIT_EXTERNAL_DIFF", "GIT_DIFF_OPTS", "GIT_PAGER", "PAGER",
        "GIT_EDITOR", "EDITOR", "VISUAL", "GIT_SEQUENCE_EDITOR", "GIT_TEMPLATE_DIR", "GIT_CONFIG", "GIT_CONFIG_COUNT",
        "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_GLOBAL", "GIT_TERMINAL_PROMPT",
        "GIT_REPLACE_REF_BASE", "GIT_NO_REPLACE_OBJECTS", "GIT_SHALLOW_FILE", "GIT_ATTR_NOSYSTEM", "GIT_ATTR_SOURCE",
        "HOME", "XDG_CONFIG_HOME", "PREFIX", "BASH_ENV", "ENV", "IFS", "SHELLOPTS", "PS4",
    };

    private readonly Dictionary<string, string> variables;

    private HermeticGitEnvironment(Dictionary<string, string> variables, IReadOnlyList<string> configArguments)
    {
        this.variables = variables;
        ConfigArguments = configArguments;
    }

    /// <summary>The exact environment git gets; nothing else.</summary>
    public IReadOnlyDictionary<string, string> Variables => variables;

    /// <summary>The <c>-c key=value</c> pairs (as separate argv items) that precede every git subcommand.</summary>
    public IReadOnlyList<string> ConfigArguments { get; }

    /// <summary>True if <paramref name="name"/> may never be set (see <see cref="ForbiddenNames"/>; also <c>GIT_SSH*</c>,
    /// <c>GIT_CONFIG_*</c>, <c>GIT_TRACE*</c> and the dynamic linker's <c>LD_*</c>).</summary>
    public static bool IsForbidden(string name) =>
        ForbiddenNames.Contains(name)
        || name.StartsWith("GIT_SSH", StringComparison.Ordinal)
        || name.StartsWith("GIT_CONFIG_", StringComparison.Ordinal)
        || name.StartsWith("GIT_TRACE", StringComparison.Ordinal)
        || name.StartsWith("LD_", StringComparison.Ordinal)
        || name.StartsWith("BASH_FUNC_", StringComparison.Ordinal);

    /// <summary>Builds the environment.</summary>
    /// <param name="home">HOME: a private temporary directory (git writes nothing there, but must not read the user's).</param>
    /// <param name="allowlisted">The only outside variables git gets (e.g. HTTPS_PROXY, SSL_CERT_FILE, GIT_SSL_CAINFO,
    /// GIT_EXEC_PATH, PATH), with their values; a forbidden name is refused with <see cref="ArgumentException"/>.</param>
    /// <param name="localSource">The source is a local repository: the file protocol is allowed as well as https.</param>
    /// <param name="safeDirectories">Directories to mark <c>safe.directory</c> (a local source owned by another uid under a user-namespace mapping).</param>
    public static HermeticGitEnvironment Create(
        string home,
        IReadOnlyDictionary<string, string>? allowlisted = null,
        bool localSource = false,
        IReadOnlyList<string>? safeDirectories = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(home);
        var variables = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = "/usr/local/bin:/usr/bin:/bin",
            ["LC_ALL"] = "C",
            ["LANG"] = "C",
        };
        foreach ((string name, string value) in allowlisted ?? new Dictionary<string, string>())
        {
            if (name.Length == 0 || name.Contains('=') || name.Contains('\0') || value.Contains('\0'))
                throw new ArgumentException($"invalid environment variable name or value '{Printable.Escape(name)}'", nameof(allowlisted));
            if (IsForbidden(name))
                throw new ArgumentException($"environment variable {Printable.Escape(name)} may not be passed to git: it can make git run programs or read other config", nameof(allowlisted));
            variables[name] = value;
        }
        // Set last, so nothing allowlisted can replace them.
        variables["HOME"] = home;
        variables["GIT_CONFIG_NOSYSTEM"] = "1";
        variables["GIT_CONFIG_GLOBAL"] = "/dev/null";
        variables["GIT_ATTR_NOSYSTEM"] = "1";
        variables["GIT_TERMINAL_PROMPT"] = "0";
        // Submodule and other "user-initiated" protocol uses are judged as not from the user.
        variables["GIT_PROTOCOL_FROM_USER"] = "0";

        var config = new List<string>();
        void Set(string key, string value)
        {
            config.Add("-c");
            config.Add($"{key}={value}");
        }
        Set("protocol.allow", "never");
        Set("protocol.https.allow", "always");
        if (localSource)
            Set("protocol.file.allow", "always");
        Set("core.hooksPath", "/dev/null");
        Set("core.fsmonitor", "false");
        Set("core.askPass", "");
        Set("credential.helper", "");
        Set("core.pager", "cat");
        Set("core.symlinks", "false");
        Set("diff.external", "");
        Set("transfer.fsckObjects", "true");
        Set("fetch.fsckObjects", "true");
        Set("submodule.recurse", "false");
        Set("fetch.recurseSubmodules", "false");
        Set("http.followRedirects", "false");
        Set("gc.auto", "0");
        Set("maintenance.auto", "false");
        Set("init.defaultBranch", "main");
        Set("advice.detachedHead", "false");
        foreach (string directory in safeDirectories ?? [])
            Set("safe.directory", directory);
        return new HermeticGitEnvironment(variables, config);
    }
}

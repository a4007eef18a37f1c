using AutoReview.Gateway.Git;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Gateway.Tests.Git;

[Collection(ProcessEnvironmentCollection.Name)]
public sealed class HermeticGitEnvironmentTests
{
    private static readonly string[] Canaries =
    [
        "GIT_SSH_COMMAND", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0", "GIT_CONFIG_PARAMETERS",
        "GIT_DIR", "GIT_ASKPASS", "GIT_EXTERNAL_DIFF", "GIT_PROXY_COMMAND", "AR_TEST_CANARY",
    ];

    [Fact]
    public async Task Nothing_of_the_calling_process_environment_reaches_git_or_its_children()
    {
        using var home = new TemporaryDirectory();
        string pwned = home.Combine("pwned");
        var saved = Canaries.ToDictionary(name => name, Environment.GetEnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable("GIT_SSH_COMMAND", $"touch {pwned}");
            Environment.SetEnvironmentVariable("GIT_CONFIG_COUNT", "1");
            Environment.SetEnvironmentVariable("GIT_CONFIG_KEY_0", "canary.injected");
            Environment.SetEnvironmentVariable("GIT_CONFIG_VALUE_0", "yes");
            Environment.SetEnvironmentVariable("GIT_CONFIG_PARAMETERS", "'canary.parameters'='yes'");
            Environment.SetEnvironmentVariable("GIT_DIR", "/nonexistent");
            Environment.SetEnvironmentVariable("GIT_ASKPASS", $"touch {pwned}");
            Environment.SetEnvironmentVariable("GIT_EXTERNAL_DIFF", $"touch {pwned}");
            Environment.SetEnvironmentVariable("GIT_PROXY_COMMAND", $"touch {pwned}");
            Environment.SetEnvironmentVariable("AR_TEST_CANARY", "leaked");

            GitRunner runner = GitTestSupport.Runner(home);
            // The config git sees: only the -c values (scope "command"), nothing from env, system or global.
            GitResult config = await runner.RunAsync(["config", "--list", "--show-scope"], home.Path);
            string[] lines = config.StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            lines.ShouldNotBeEmpty();
            lines.ShouldAllBe(line => line.StartsWith("command\t", StringComparison.Ordinal));
            config.StdoutText.ShouldNotContain("canary");
            config.StdoutText.ShouldContain("protocol.allow=never");
            config.StdoutText.ShouldNotContain("protocol.file.allow");

            // The environment a program git starts sees (an alias runs through the shell).
            GitResult env = await runner.RunAsync(["-c", "alias.showenv=!env", "showenv"], home.Path);
            var names = env.StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('=')[0]).ToHashSet();
            foreach (string canary in Canaries.Where(c => c != "GIT_CONFIG_PARAMETERS"))
                names.ShouldNotContain(canary);
            env.StdoutText.ShouldNotContain("leaked");
            env.StdoutText.ShouldNotContain("canary");
            env.StdoutText.ShouldContain("GIT_CONFIG_NOSYSTEM=1");
            env.StdoutText.ShouldContain("GIT_CONFIG_GLOBAL=/dev/null");
            env.StdoutText.ShouldContain($"HOME={home.Path}\n");
            File.Exists(pwned).ShouldBeFalse();
        }
        finally
        {
            foreach ((string name, string? value) in saved)
                Environment.SetEnvironmentVariable(name, value);
        }
    }

    [Theory]
    [InlineData("GIT_SSH_COMMAND")]
    [InlineData("GIT_CONFIG_COUNT")]
    [InlineData("GIT_CONFIG_KEY_0")]
    [InlineData("GIT_DIR")]
    [InlineData("GIT_WORK_TREE")]
    [InlineData("GIT_ASKPASS")]
    [InlineData("SSH_ASKPASS")]
    [InlineData("GIT_ALLOW_PROTOCOL")]
    [InlineData("GIT_PROXY_COMMAND")]
    [InlineData("GIT_EXTERNAL_DIFF")]
    [InlineData("LD_PRELOAD")]
    [InlineData("LD_LIBRARY_PATH")]
    [InlineData("HOME")]
    public void A_dangerous_variable_cannot_be_allowlisted(string name)
    {
        using var home = new TemporaryDirectory();
        ArgumentException e = Should.Throw<ArgumentException>(() =>
            HermeticGitEnvironment.Create(home.Path, new Dictionary<string, string> { [name] = "x" }));
        e.Message.ShouldContain(name);
    }

    [Fact]
    public void Allowlisted_variables_are_passed_and_the_fixed_ones_win()
    {
        var env = HermeticGitEnvironment.Create("/tmp/home", new Dictionary<string, string>
        {
            ["HTTPS_PROXY"] = "http://127.0.0.1:3128",
            ["GIT_SSL_CAINFO"] = "/ca.pem",
            ["GIT_EXEC_PATH"] = "/usr/lib/git-core",
        }, localSource: true, safeDirectories: ["/src"]);
        env.Variables["HTTPS_PROXY"].ShouldBe("http://127.0.0.1:3128");
        env.Variables["GIT_SSL_CAINFO"].ShouldBe("/ca.pem");
        env.Variables["GIT_EXEC_PATH"].ShouldBe("/usr/lib/git-core");
        env.Variables["HOME"].ShouldBe("/tmp/home");
        env.Variables["GIT_TERMINAL_PROMPT"].ShouldBe("0");
        env.Variables.Keys.ShouldNotContain("GIT_ASKPASS");
        string config = string.Join(' ', env.ConfigArguments);
        config.ShouldContain("-c protocol.file.allow=always");
        config.ShouldContain("-c safe.directory=/src");
        config.ShouldContain("-c core.hooksPath=/dev/null");
        config.ShouldContain("-c transfer.fsckObjects=true");
        config.ShouldNotContain("packObjectsHook");
    }
}

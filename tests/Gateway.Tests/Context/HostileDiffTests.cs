using AutoReview.Gateway.Context;
using Shouldly;
using Xunit;

namespace AutoReview.Gateway.Tests.Context;

/// <summary>
/// Diff text git would not print for an honest repository, but that a compromised git, a crafted object or a
/// hand-fed diff could. Named after what each one tries; every refusal must name the diff line.
/// </summary>
public sealed class HostileDiffTests
{
    private static DiffFormatException Refused(string diff) => Should.Throw<DiffFormatException>(() => new UnifiedDiffParser().Parse(diff));

    [Fact]
    public void Dot_dot_in_the_new_path_to_write_outside_the_workspace_is_refused()
    {
        DiffFormatException e = Refused("diff --git a/x b/x\nindex 1234567..89abcde 100644\n--- a/x\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n");
        e.LineNumber.ShouldBe(4);
        e.Message.ShouldStartWith("diff line 4: unsafe path '../../etc/passwd' ('..' component)");
    }

    [Fact]
    public void Absolute_rename_target_is_refused()
    {
        DiffFormatException e = Refused("diff --git a/x b/y\nsimilarity index 100%\nrename from x\nrename to /etc/cron.d/evil\n");
        e.LineNumber.ShouldBe(4);
        e.Message.ShouldContain("absolute path");
    }

    [Fact]
    public void Dot_dot_hidden_in_a_quoted_octal_escape_is_refused()
    {
        // "\056\056" is "..": the check runs on the decoded name, not on the quoted text.
        DiffFormatException e = Refused("diff --git \"a/\\056\\056/x\" \"b/\\056\\056/x\"\nold mode 100644\nnew mode 100755\n");
        e.LineNumber.ShouldBe(1);
        e.Message.ShouldContain("'..' component");
    }

    [Fact]
    public void Dot_dot_in_a_mode_only_header_is_refused()
    {
        DiffFormatException e = Refused("diff --git a/../x b/../x\nold mode 100644\nnew mode 100755\n");
        e.LineNumber.ShouldBe(1);
    }

    [Fact]
    public void Hunk_claiming_more_lines_than_it_has_is_refused()
    {
        DiffFormatException e = Refused("diff --git a/x b/x\nindex 1234567..89abcde 100644\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n");
        e.LineNumber.ShouldBe(5);
        e.Message.ShouldContain("hunk ends early");
    }

    [Fact]
    public void Extra_lines_smuggled_after_a_hunk_are_refused()
    {
        DiffFormatException e = Refused("diff --git a/x b/x\nindex 1234567..89abcde 100644\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n+smuggled\n");
        e.LineNumber.ShouldBe(8);
    }

    [Fact]
    public void Combined_merge_diff_is_refused_with_a_hint()
    {
        Refused("diff --cc file.txt\nindex 1,2..3\n").Message.ShouldContain("combined (merge) diffs are not supported");
    }

    [Fact]
    public void Text_before_the_first_header_is_refused()
    {
        Refused("From: someone\ndiff --git a/x b/x\n").LineNumber.ShouldBe(1);
    }

    [Fact]
    public void Control_characters_in_the_error_are_escaped_so_they_cannot_forge_log_lines()
    {
        DiffFormatException e = Refused("diff --git a/x b/x\nbogus header\u001b[31m\n");
        e.Message.ShouldNotContain("\u001b");
        e.Message.ShouldContain("\\x1b[31m");
    }

    [Fact]
    public void Missing_prefix_explains_the_expected_diff_options()
    {
        Refused("diff --git x x\nindex 1234567..89abcde 100644\n--- x\n+++ x\n@@ -1 +1 @@\n-a\n+b\n").Message.ShouldContain("--no-prefix");
    }
}

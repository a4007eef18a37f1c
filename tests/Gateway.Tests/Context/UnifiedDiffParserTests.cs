using System.Text;
using AutoReview.Gateway.Context;
using Shouldly;
using Xunit;

namespace AutoReview.Gateway.Tests.Context;

/// <summary>Each case is real `git diff` output from a repository crafted in the test.</summary>
public sealed class UnifiedDiffParserTests
{
    [Fact]
    public async Task Modified_file_gives_new_file_line_numbers_for_added_and_context_lines()
    {
        using var repo = await DiffRepository.CreateAsync(("src/a.txt", "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\n"));
        await repo.CommitAsync(("src/a.txt", "one\ntwo\nthree\nFOUR\nfive\nsix\nseven\neight\nnine\n"));

        UnifiedDiff diff = await repo.ParseAsync();

        FileDiff file = diff.Files.ShouldHaveSingleItem();
        file.Status.ShouldBe(FileStatus.Modified);
        file.OldPath.ShouldBe("src/a.txt");
        file.NewPath.ShouldBe("src/a.txt");
        file.AddedLines.ShouldBe(2);
        file.RemovedLines.ShouldBe(1);
        DiffLine[] added = file.Hunks.SelectMany(h => h.Lines).Where(l => l.Kind == DiffLineKind.Added).ToArray();
        added.Select(l => (l.Text, l.NewLine)).ShouldBe([("FOUR", 4), ("nine", 9)]);
        added.ShouldAllBe(l => l.OldLine == 0);
        DiffLine removed = file.Hunks.SelectMany(h => h.Lines).Single(l => l.Kind == DiffLineKind.Removed);
        (removed.Text, removed.OldLine, removed.NewLine).ShouldBe(("four", 4, 0));
        DiffLine five = file.Hunks.SelectMany(h => h.Lines).Single(l => l.Text == "five");
        (five.Kind, five.OldLine, five.NewLine).ShouldBe((DiffLineKind.Context, 5, 5));
    }

    [Fact]
    public async Task Added_and_deleted_files_have_one_side_only()
    {
        using var repo = await DiffRepository.CreateAsync(("gone.txt", "bye\n"), ("keep.txt", "k\n"));
        await repo.CommitAsync(("gone.txt", null), ("new/file.txt", "hello\nworld\n"));

        UnifiedDiff diff = await repo.ParseAsync();

        diff.Files.Select(f => (f.Path, f.Status)).ShouldBe([("gone.txt", FileStatus.Deleted), ("new/file.txt", FileStatus.Added)]);
        FileDiff gone = diff.Files[0];
        (gone.OldPath, gone.NewPath, gone.OldMode, gone.RemovedLines).ShouldBe(("gone.txt", null, "100644", 1));
        FileDiff added = diff.Files[1];
        (added.OldPath, added.NewPath, added.NewMode).ShouldBe((null, "new/file.txt", "100644"));
        DiffHunk hunk = added.Hunks.ShouldHaveSingleItem();
        (hunk.OldStart, hunk.OldCount, hunk.NewStart, hunk.NewCount).ShouldBe((0, 0, 1, 2));
        hunk.Lines.Select(l => l.NewLine).ShouldBe([1, 2]);
    }

    [Fact]
    public async Task Rename_with_edits_keeps_both_paths_and_the_similarity()
    {
        string body = string.Concat(Enumerable.Range(1, 20).Select(i => $"line {i}\n"));
        using var repo = await DiffRepository.CreateAsync(("old/name.txt", body));
        await repo.CommitAsync(("old/name.txt", null), ("new/name.txt", body.Replace("line 10\n", "line ten\n")));

        FileDiff file = (await repo.ParseAsync()).Files.ShouldHaveSingleItem();

        file.Status.ShouldBe(FileStatus.Renamed);
        (file.OldPath, file.NewPath, file.Path).ShouldBe(("old/name.txt", "new/name.txt", "new/name.txt"));
        file.Similarity.ShouldNotBeNull().ShouldBeInRange(80, 99);
        file.Hunks.SelectMany(h => h.Lines).Single(l => l.Kind == DiffLineKind.Added).ShouldBe(new DiffLine(DiffLineKind.Added, "line ten", 0, 10));
    }

    [Fact]
    public async Task Pure_rename_has_no_hunks()
    {
        using var repo = await DiffRepository.CreateAsync(("a b.txt", "same\n"));
        await repo.CommitAsync(("a b.txt", null), ("c d.txt", "same\n"));

        FileDiff file = (await repo.ParseAsync()).Files.ShouldHaveSingleItem();

        (file.Status, file.OldPath, file.NewPath, file.Similarity).ShouldBe((FileStatus.Renamed, "a b.txt", "c d.txt", 100));
        file.Hunks.ShouldBeEmpty();
    }

    [Fact]
    public async Task Binary_addition_is_flagged_without_hunks()
    {
        using var repo = await DiffRepository.CreateAsync(("README", "r\n"));
        repo.WriteBytes("assets/blob.bin", [0, 1, 2, 3, 0, 255, 254, 0]);
        await repo.Repo.CommitAsync("binary");

        string raw = await repo.DiffAsync();
        raw.ShouldContain("Binary files /dev/null and b/assets/blob.bin differ");
        FileDiff file = new UnifiedDiffParser().Parse(raw).Files.ShouldHaveSingleItem();

        (file.Path, file.Status, file.IsBinary).ShouldBe(("assets/blob.bin", FileStatus.Added, true));
        file.Hunks.ShouldBeEmpty();
    }

    [Fact]
    public async Task Quoted_paths_with_unicode_spaces_tabs_and_quotes_are_decoded()
    {
        using var repo = await DiffRepository.CreateAsync(("README", "r\n"));
        await repo.CommitAsync(("dir/\u00e4 b.txt", "umlaut\n"), ("tab\there.txt", "tab\n"), ("quo\"te.txt", "q\n"));

        string raw = await repo.DiffAsync();
        raw.ShouldContain("\"b/dir/\\303\\244 b.txt\""); // git really quoted it (core.quotePath's default)
        UnifiedDiff diff = new UnifiedDiffParser().Parse(raw);

        diff.Files.Select(f => f.Path).Order(StringComparer.Ordinal).ShouldBe(["dir/\u00e4 b.txt", "quo\"te.txt", "tab\there.txt"]);
        diff.Files.ShouldAllBe(f => f.Status == FileStatus.Added && f.Hunks.Count == 1);
    }

    [Fact]
    public async Task Rename_from_a_plain_name_to_a_quoted_one_is_decoded()
    {
        using var repo = await DiffRepository.CreateAsync(("plain name.txt", "same content\n"));
        await repo.CommitAsync(("plain name.txt", null), ("\u00e4 name.txt", "same content\n"));

        string raw = await repo.DiffAsync();
        raw.ShouldContain("diff --git a/plain name.txt \"b/\\303\\244 name.txt\"");
        FileDiff file = new UnifiedDiffParser().Parse(raw).Files.ShouldHaveSingleItem();

        (file.Status, file.OldPath, file.NewPath).ShouldBe((FileStatus.Renamed, "plain name.txt", "\u00e4 name.txt"));
    }

    [Fact]
    public async Task No_newline_at_end_of_file_marks_the_last_line()
    {
        using var repo = await DiffRepository.CreateAsync(("a.txt", "x\nlast"));
        await repo.CommitAsync(("a.txt", "x\nlast changed"));

        string raw = await repo.DiffAsync();
        raw.ShouldContain("\\ No newline at end of file");
        FileDiff file = new UnifiedDiffParser().Parse(raw).Files.ShouldHaveSingleItem();

        DiffLine[] lines = file.Hunks.Single().Lines.ToArray();
        lines.Single(l => l.Kind == DiffLineKind.Removed).ShouldBe(new DiffLine(DiffLineKind.Removed, "last", 2, 0, NoNewlineAtEnd: true));
        lines.Single(l => l.Kind == DiffLineKind.Added).ShouldBe(new DiffLine(DiffLineKind.Added, "last changed", 0, 2, NoNewlineAtEnd: true));
    }

    [Fact]
    public async Task CRLF_content_is_kept_apart_from_the_text()
    {
        using var repo = await DiffRepository.CreateAsync(("win.txt", "a\r\nb\r\n"));
        await repo.CommitAsync(("win.txt", "a\r\nB \r\n"));

        FileDiff file = (await repo.ParseAsync()).Files.ShouldHaveSingleItem();

        DiffLine added = file.Hunks.Single().Lines.Single(l => l.Kind == DiffLineKind.Added);
        added.ShouldBe(new DiffLine(DiffLineKind.Added, "B ", 0, 2, CarriageReturn: true));
        file.Hunks.Single().Lines.First().ShouldBe(new DiffLine(DiffLineKind.Context, "a", 1, 1, CarriageReturn: true));
    }

    [Fact]
    public async Task Mode_only_change_is_modified_without_hunks()
    {
        using var repo = await DiffRepository.CreateAsync(("bin/run me.sh", "#!/bin/sh\n"));
        File.SetUnixFileMode(Path.Combine(repo.WorkingDirectory, "bin/run me.sh"),
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await repo.Repo.CommitAsync("chmod");

        FileDiff file = (await repo.ParseAsync()).Files.ShouldHaveSingleItem();

        (file.Path, file.Status, file.OldMode, file.NewMode, file.ModeChanged).ShouldBe(("bin/run me.sh", FileStatus.Modified, "100644", "100755", true));
        file.Hunks.ShouldBeEmpty();
    }

    [Fact]
    public async Task Empty_file_added_has_no_hunks()
    {
        using var repo = await DiffRepository.CreateAsync(("README", "r\n"));
        await repo.CommitAsync(("empty file.txt", ""));

        FileDiff file = (await repo.ParseAsync()).Files.ShouldHaveSingleItem();

        (file.Path, file.Status, file.IsBinary, file.AddedLines).ShouldBe(("empty file.txt", FileStatus.Added, false, 0));
        file.Hunks.ShouldBeEmpty();
    }

    [Fact]
    public async Task Huge_file_is_summarised_but_still_counted_and_smaller_files_stay_inlined()
    {
        string huge = string.Concat(Enumerable.Range(0, 5000).Select(i => $"generated line {i}\n"));
        using var repo = await DiffRepository.CreateAsync(("README", "r\n"));
        await repo.CommitAsync(("big.txt", huge), ("small.txt", "small\n"));

        UnifiedDiff diff = await repo.ParseAsync(new UnifiedDiffOptions { MaxFileBytes = 10_000, MaxTotalBytes = 1_000_000 });

        FileDiff big = diff.Files.Single(f => f.Path == "big.txt");
        big.IsTruncated.ShouldBeTrue();
        big.Hunks.ShouldBeEmpty();
        big.AddedLines.ShouldBe(5000);
        big.DiffBytes.ShouldBeGreaterThan(10_000);
        diff.Notes.ShouldHaveSingleItem().ShouldStartWith("big.txt: diff is ");
        diff.Notes[0].ShouldContain("per-file cap of 10000");
        FileDiff small = diff.Files.Single(f => f.Path == "small.txt");
        small.IsTruncated.ShouldBeFalse();
        small.Hunks.ShouldHaveSingleItem();
    }

    [Fact]
    public async Task Total_cap_summarises_the_files_that_no_longer_fit()
    {
        using var repo = await DiffRepository.CreateAsync(("README", "r\n"));
        string body = string.Concat(Enumerable.Range(0, 40).Select(i => $"line {i}\n"));
        await repo.CommitAsync(("a.txt", body), ("b.txt", body), ("c.txt", "tiny\n"));

        UnifiedDiff diff = await repo.ParseAsync(new UnifiedDiffOptions { MaxFileBytes = 10_000, MaxTotalBytes = 600 });

        // a.txt (~450 bytes) fits, b.txt would pass 600, c.txt (~100 bytes) still fits after it.
        diff.Files.Select(f => (f.Path, f.IsTruncated)).ShouldBe([("a.txt", false), ("b.txt", true), ("c.txt", false)]);
        diff.Notes.ShouldHaveSingleItem().ShouldContain("total cap of 600 bytes");
    }

    [Fact]
    public void Empty_diff_has_no_files() => new UnifiedDiffParser().Parse("").Files.ShouldBeEmpty();

    [Fact]
    public void Invalid_UTF8_content_is_replaced_not_fatal()
    {
        byte[] raw = [.. Encoding.ASCII.GetBytes(Diffs.AddedFile("latin1.txt", "XX")[..^4]), (byte)'+', 0xE4, (byte)'\n'];
        FileDiff file = new UnifiedDiffParser().Parse(raw).Files.ShouldHaveSingleItem();
        file.Hunks.Single().Lines.Single().Text.ShouldBe("\uFFFD");
    }

    [Fact]
    public void Copy_headers_give_copied_status()
    {
        const string text = "diff --git a/src.c b/dst.c\nsimilarity index 90%\ncopy from src.c\ncopy to dst.c\n"
            + "index 1234567..89abcde 100644\n--- a/src.c\n+++ b/dst.c\n@@ -1 +1 @@\n-a\n+b\n";
        FileDiff file = new UnifiedDiffParser().Parse(text).Files.ShouldHaveSingleItem();
        (file.Status, file.OldPath, file.NewPath, file.Similarity).ShouldBe((FileStatus.Copied, "src.c", "dst.c", 90));
    }
}

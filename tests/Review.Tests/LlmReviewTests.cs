using System.Text.Json;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Review.Tests;

/// <summary>
/// <c>review --reviewer llm</c> against the OpenAI-compatible test server on loopback (plain http; the gateway reaches
/// it through the egress proxy's CONNECT tunnel). The first answer is malformed, the second valid with one finding
/// on an added line and one on a line the change did not touch.
/// </summary>
[Trait("Category", "Review")]
public sealed class LlmReviewTests : IAsyncLifetime
{
    private const string Model = "test-reasoner-1";
    private const string CalcPath = "src/calc.py";
    private const string AddedLine = "    return a / b";
    private const int AddedLineNumber = 6;
    private const int UntouchedLineNumber = 1;

    private readonly string apiKey = $"sk-test-{Guid.NewGuid():N}";
    private readonly HermeticGit git = new();
    private RepositoryBuilder repo = null!;
    private OpenAiCompatibleServer llm = null!;

    public async Task InitializeAsync()
    {
        repo = await RepositoryBuilder.CreateAsync(git);
        await repo.CommitAsync("base", (CalcPath, "def add(a, b):\n    return a + b\n"));
        await repo.CreateBranchAsync("feature");
        // Lines 3-6 are added; line 1 is unchanged context.
        await repo.CommitAsync("divide", (CalcPath, "def add(a, b):\n    return a + b\n\n\ndef divide(a, b):\n" + AddedLine + "\n"));
        llm = await OpenAiCompatibleServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (llm is not null)
            await llm.DisposeAsync();
        repo?.Dispose();
        git.Dispose();
    }

    private Dictionary<string, string> LlmEnvironment() => new()
    {
        ["LLM_BASE_URL"] = llm.BaseUri.ToString(),
        ["LLM_API_KEY"] = apiKey,
        ["LLM_REASONING_MODEL"] = Model,
    };

    private void EnqueueMalformedThenValid()
    {
        llm.Enqueue("Sure! Here is my review: the divide function looks risky.");
        llm.Enqueue(JsonSerializer.Serialize(new
        {
            findings = new object[]
            {
                new { path = CalcPath, line = AddedLineNumber, severity = "error", rule = "division-by-zero", message = "divide() raises ZeroDivisionError when b is 0." },
                new { path = CalcPath, line = UntouchedLineNumber, severity = "warning", rule = "untouched-line", message = "This line was not changed by the diff." },
            },
        }));
    }

    [SkippableFact]
    public void Malformed_answer_is_retried_with_feedback_and_only_the_finding_on_an_added_line_is_kept()
    {
        Sandboxes.Require();
        EnqueueMalformedThenValid();

        CommandResult result = Run.AutoReview(["review", repo.WorkingDirectory, "--reviewer", "llm", "--format", "json"],
            environment: LlmEnvironment());

        result.ExitCode.ShouldBe(1, result.ToString());
        (IReadOnlyList<ReportedFinding> findings, IReadOnlyList<string> notes) = Reports.ParseJson(result.Stdout);
        findings.ShouldHaveSingleItem().ShouldBe(new ReportedFinding("division-by-zero", CalcPath, AddedLineNumber, "error",
            "divide() raises ZeroDivisionError when b is 0."));
        result.Stdout.ShouldNotContain("untouched-line");
        notes.ShouldContain("llm: dropped 1 finding(s) on lines the change did not add");

        RecordedRequest[] requests = llm.Requests.ToArray();
        requests.Length.ShouldBe(2, string.Join("\n", requests.Select(r => r.ToString())));
        llm.PendingResponses.ShouldBe(0);
        foreach (RecordedRequest request in requests)
        {
            request.Method.ShouldBe("POST");
            request.Path.ShouldBe("/v1/chat/completions");
            request.Authorization.ShouldBe($"Bearer {apiKey}");
            JsonElement body = request.Json;
            body.GetProperty("model").GetString().ShouldBe(Model);
            JsonElement[] messages = body.GetProperty("messages").EnumerateArray().ToArray();
            messages[0].GetProperty("role").GetString().ShouldBe("system");
            JsonElement user = messages[1];
            user.GetProperty("role").GetString().ShouldBe("user");
            string prompt = user.GetProperty("content").GetString()!;
            prompt.ShouldContain(CalcPath);
            prompt.ShouldContain(AddedLine);
            prompt.ShouldContain($"{AddedLineNumber,6} + {AddedLine}");
        }

        // The first request is the plain review; the second carries the rejected answer and why it was rejected.
        requests[0].Json.GetProperty("messages").GetArrayLength().ShouldBe(2);
        JsonElement[] retry = requests[1].Json.GetProperty("messages").EnumerateArray().ToArray();
        retry.Length.ShouldBe(4);
        retry[2].GetProperty("role").GetString().ShouldBe("assistant");
        retry[2].GetProperty("content").GetString().ShouldBe("Sure! Here is my review: the divide function looks risky.");
        retry[3].GetProperty("role").GetString().ShouldBe("user");
        string feedback = retry[3].GetProperty("content").GetString()!;
        feedback.ShouldContain("Your previous answer was rejected");
        feedback.ShouldContain("not valid JSON");

        result.Stdout.ShouldNotContain(apiKey);
        result.Stderr.ShouldNotContain(apiKey);
        result.ShouldHaveNoStackTrace();
    }

    [SkippableFact]
    public void Verbose_logs_the_retry_the_drop_and_the_egress_but_never_the_key()
    {
        Sandboxes.Require();
        EnqueueMalformedThenValid();

        CommandResult result = Run.AutoReview(["review", repo.WorkingDirectory, "--reviewer", "llm", "--verbose"],
            environment: LlmEnvironment());

        result.ExitCode.ShouldBe(1, result.ToString());
        llm.Requests.Count.ShouldBe(2);
        result.Stderr.ShouldContain($"egress proxy allowing 127.0.0.1:{llm.BaseUri.Port}");
        result.Stderr.ShouldContain($" egress allowed 127.0.0.1:{llm.BaseUri.Port} from ");
        result.Stderr.ShouldContain("auto-review: gateway: llm: attempt 1/3 failed: the model's answer was rejected: the answer is not valid JSON");
        result.Stderr.ShouldContain("auto-review: gateway: llm: dropped 1 finding(s) on lines the change did not add");
        result.Stdout.ShouldContain("`division-by-zero`");
        result.Stdout.ShouldNotContain("untouched");
        result.Stdout.ShouldNotContain(apiKey);
        result.Stderr.ShouldNotContain(apiKey);
        result.ShouldHaveNoStackTrace();
    }

    [SkippableFact]
    public void An_endpoint_that_refuses_the_key_fails_the_review_with_status_3_and_the_key_redacted()
    {
        Sandboxes.Require();
        llm.EnqueueRaw(401, $"{{\"error\":{{\"message\":\"Incorrect API key provided: {apiKey}\",\"type\":\"invalid_request_error\"}}}}");

        CommandResult result = Run.AutoReview(["review", repo.WorkingDirectory, "--reviewer", "llm", "--verbose"],
            environment: LlmEnvironment());

        result.ExitCode.ShouldBe(3, result.ToString());
        result.Stdout.ShouldBeEmpty();
        llm.Requests.ShouldHaveSingleItem().Authorization.ShouldBe($"Bearer {apiKey}");
        result.Stderr.ShouldContain("llm review failed: HTTP 401");
        result.Stderr.ShouldNotContain(apiKey);
        result.ShouldHaveNoStackTrace();
    }
}

using System.Text.Json;
using AutoReview.Gateway.Context;
using AutoReview.Gateway.Review;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Gateway.Tests.Review;

/// <summary>
/// The LLM reviewer against a real OpenAI-compatible server on 127.0.0.1: what it sends, how it treats the
/// model's (untrusted) answers, and that the API key never leaks into an error or a log.
/// </summary>
public sealed class LlmReviewerTests : IAsyncLifetime
{
    // A fresh key per run, so a hit can only come from a leak in this run.
    private readonly string apiKey = "sk-test-" + Guid.NewGuid().ToString("N");
    private readonly List<string> log = [];
    private OpenAiCompatibleServer server = null!;
    private DiffRepository repo = null!;
    private ReviewContext context = null!;

    public async Task InitializeAsync()
    {
        server = await OpenAiCompatibleServer.StartAsync();
        repo = await DiffRepository.CreateAsync(
            ("src/calc.c", "int add(int a, int b)\n{\n    return a + b;\n}\n"),
            ("README.md", "# calc\n"));
        // Head: lines 1-4 unchanged context, line 5 blank, lines 6-9 added.
        await repo.CommitAsync(("src/calc.c", "int add(int a, int b)\n{\n    return a + b;\n}\n\nint divide(int a, int b)\n{\n    return a / b;\n}\n"));
        context = ReviewContext.Build(await repo.ParseAsync());
    }

    public async Task DisposeAsync()
    {
        repo.Dispose();
        await server.DisposeAsync();
    }

    private LlmReviewer Reviewer(Uri? baseUrl = null, int maxAttempts = 3, int maxContextChars = 200_000) =>
        new(new LlmOptions(baseUrl ?? server.BaseUri, apiKey, "review-model")
        {
            MaxAttempts = maxAttempts,
            MaxContextChars = maxContextChars,
            RetryDelay = TimeSpan.Zero,
            Timeout = TimeSpan.FromSeconds(30),
        }, log: log.Add);

    private static string Answer(params (string Path, int Line, string Severity)[] findings) =>
        FindingsJson(findings.Select(f => $$"""{"path":"{{f.Path}}","line":{{f.Line}},"severity":"{{f.Severity}}","rule":"division-by-zero","message":"b may be zero"}"""));

    private static string FindingsJson(IEnumerable<string> items) => "{\"findings\":[" + string.Join(",", items) + "]}";

    private static string[] Contents(RecordedRequest request) =>
        request.Json.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("content").GetString()!).ToArray();

    private void ShouldNotLeakKey(params string?[] texts)
    {
        foreach (string? text in texts.Concat(log))
            (text ?? "").ShouldNotContain(apiKey);
    }

    [Fact]
    public async Task Request_carries_model_bearer_key_json_response_format_and_the_numbered_hunk()
    {
        server.Enqueue(Answer(("src/calc.c", 8, "error")));
        using LlmReviewer reviewer = Reviewer();

        IReadOnlyList<Finding> findings = await reviewer.ReviewAsync(context);

        findings.ShouldBe([new Finding("src/calc.c", 8, Severity.Error, "division-by-zero", "b may be zero")]);
        RecordedRequest request = server.Requests.ShouldHaveSingleItem();
        (request.Method, request.Path).ShouldBe(("POST", OpenAiCompatibleServer.ChatCompletionsPath));
        request.Authorization.ShouldBe("Bearer " + apiKey);
        JsonElement body = request.Json;
        body.GetProperty("model").GetString().ShouldBe("review-model");
        body.GetProperty("response_format").GetProperty("type").GetString().ShouldBe("json_object");
        JsonElement[] messages = body.GetProperty("messages").EnumerateArray().ToArray();
        messages.Select(m => m.GetProperty("role").GetString()).ShouldBe(["system", "user"]);
        messages[0].GetProperty("content").GetString()!.ShouldContain("\"findings\"");
        string user = messages[1].GetProperty("content").GetString()!;
        user.ShouldContain("=== File: src/calc.c (modified) ===");
        user.ShouldContain("@@ -2,3 +2,8 @@");
        user.ShouldContain("     8 +     return a / b;");
        user.ShouldContain("     3       return a + b;");
        ShouldNotLeakKey();
    }

    [Fact]
    public async Task Base_url_ending_in_v1_is_not_given_a_second_v1()
    {
        server.Enqueue(Answer());
        using LlmReviewer reviewer = Reviewer(server.ApiBaseUri);

        (await reviewer.ReviewAsync(context)).ShouldBeEmpty();

        server.Requests.ShouldHaveSingleItem().Path.ShouldBe(OpenAiCompatibleServer.ChatCompletionsPath);
    }

    [Fact]
    public async Task Answer_that_is_not_json_is_retried_with_the_validation_error()
    {
        server.Enqueue("Sure! Here are my findings: the division looks risky.");
        server.Enqueue(Answer(("src/calc.c", 8, "warning")));
        using LlmReviewer reviewer = Reviewer();

        LlmReviewResult result = await reviewer.ReviewWithNotesAsync(context);

        result.Findings.ShouldHaveSingleItem().Line.ShouldBe(8);
        result.Attempts.ShouldBe(2);
        string[] retry = Contents(server.Requests[1]);
        retry.Length.ShouldBe(4);
        retry[2].ShouldBe("Sure! Here are my findings: the division looks risky.");
        retry[3].ShouldContain("rejected: the answer is not valid JSON");
        log.ShouldContain(l => l.Contains("attempt 1/3 failed", StringComparison.Ordinal));
        ShouldNotLeakKey();
    }

    [Fact]
    public async Task Answer_violating_the_schema_is_retried_naming_the_field()
    {
        server.Enqueue("""{"findings":[{"path":"src/calc.c","line":8,"severity":"fatal","rule":"r","message":"m"}]}""");
        server.Enqueue("""{"findings":[{"path":"src/calc.c","line":0,"severity":"error","rule":"r","message":"m"}]}""");
        server.Enqueue("""{"findings":[{"path":"src/calc.c","line":"8","severity":"error","rule":"","message":"m"}]}""");
        server.Enqueue(Answer(("src/calc.c", 6, "note")));
        using LlmReviewer reviewer = Reviewer(maxAttempts: 4);

        LlmReviewResult result = await reviewer.ReviewWithNotesAsync(context);

        result.Findings.ShouldHaveSingleItem().ShouldBe(new Finding("src/calc.c", 6, Severity.Note, "division-by-zero", "b may be zero"));
        server.Requests.Count.ShouldBe(4);
        Contents(server.Requests[1])[3].ShouldContain("findings[0].severity must be \"note\", \"warning\" or \"error\", not \"fatal\"");
        Contents(server.Requests[2])[3].ShouldContain("findings[0].line must be an integer >= 1");
        Contents(server.Requests[3])[3].ShouldContain("findings[0].line is missing or not a number");
    }

    [Fact]
    public async Task Findings_on_untouched_lines_and_unchanged_files_are_dropped_and_counted()
    {
        server.Enqueue(Answer(("src/calc.c", 8, "error"), ("src/calc.c", 3, "error"), ("README.md", 1, "note"), ("src/other.c", 8, "error")));
        using LlmReviewer reviewer = Reviewer();

        LlmReviewResult result = await reviewer.ReviewWithNotesAsync(context);

        result.Findings.ShouldHaveSingleItem().Line.ShouldBe(8);
        result.Dropped.ShouldBe(3);
        result.Notes.ShouldContain("llm: dropped 3 finding(s) on lines the change did not add");
        log.ShouldContain("llm: dropped 3 finding(s) on lines the change did not add");
    }

    [Fact]
    public async Task Control_characters_in_the_models_message_are_escaped()
    {
        server.Enqueue("""{"findings":[{"path":"src/calc.c","line":8,"severity":"error","rule":"x","message":"line1\nFORGED: line\u001b[31m"}]}""");
        using LlmReviewer reviewer = Reviewer();

        Finding finding = (await reviewer.ReviewAsync(context)).ShouldHaveSingleItem();

        finding.Message.ShouldBe("line1\\nFORGED: line\\x1b[31m");
    }

    [Fact]
    public async Task Exhausted_attempts_fail_naming_the_last_problem_without_the_key()
    {
        server.Enqueue("not json");
        server.Enqueue("""{"findings":"none"}""");
        using LlmReviewer reviewer = Reviewer(maxAttempts: 2);

        ReviewFailedException e = await Should.ThrowAsync<ReviewFailedException>(() => reviewer.ReviewAsync(context));

        e.Message.ShouldContain("after 2 attempt(s)");
        e.Message.ShouldContain("\"findings\" is missing or not an array");
        server.Requests.Count.ShouldBe(2);
        ShouldNotLeakKey(e.Message, e.ToString());
    }

    [Fact]
    public async Task Http_429_and_500_are_retried()
    {
        server.EnqueueRaw(429, """{"error":{"message":"rate limited"}}""");
        server.EnqueueRaw(500, """{"error":{"message":"boom"}}""");
        server.Enqueue(Answer(("src/calc.c", 8, "error")));
        using LlmReviewer reviewer = Reviewer();

        (await reviewer.ReviewAsync(context)).ShouldHaveSingleItem();

        server.Requests.Select(r => r.StatusCode).ShouldBe([429, 500, 200]);
        log.ShouldContain(l => l.Contains("HTTP 429", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Server_echoing_the_key_in_errors_does_not_leak_it_into_the_exception_or_log()
    {
        string echo = $$$"""{"error":{"message":"bad key {{{apiKey}}} from header Bearer {{{apiKey}}}"}}""";
        server.EnqueueRaw(503, echo);
        server.EnqueueRaw(503, echo);
        using LlmReviewer reviewer = Reviewer(maxAttempts: 2);

        ReviewFailedException e = await Should.ThrowAsync<ReviewFailedException>(() => reviewer.ReviewAsync(context));

        e.Message.ShouldContain("HTTP 503");
        e.Message.ShouldContain("[REDACTED]");
        log.Count.ShouldBeGreaterThan(0);
        ShouldNotLeakKey(e.Message, e.ToString());
    }

    [Fact]
    public async Task Http_401_fails_at_once_without_the_key()
    {
        server.EnqueueRaw(401, $$$"""{"error":{"message":"Incorrect API key provided: {{{apiKey}}}"}}""");
        using LlmReviewer reviewer = Reviewer();

        ReviewFailedException e = await Should.ThrowAsync<ReviewFailedException>(() => reviewer.ReviewAsync(context));

        e.Message.ShouldContain("HTTP 401");
        server.Requests.Count.ShouldBe(1);
        ShouldNotLeakKey(e.Message, e.ToString());
    }

    [Fact]
    public async Task Huge_context_is_capped_with_a_note()
    {
        string big = string.Concat(Enumerable.Range(0, 400).Select(i => $"int v{i} = {i};\n"));
        await repo.CommitAsync(("src/big.c", big));
        ReviewContext bigContext = ReviewContext.Build(await repo.ParseAsync());
        server.Enqueue(Answer());
        using LlmReviewer reviewer = Reviewer(maxContextChars: 2000);

        LlmReviewResult result = await reviewer.ReviewWithNotesAsync(bigContext);

        string user = Contents(server.Requests.ShouldHaveSingleItem())[1];
        user.Length.ShouldBeLessThanOrEqualTo(2000);
        user.ShouldContain("cut at 2000 characters");
        result.Notes.ShouldContain(n => n.Contains("cut at 2000 characters", StringComparison.Ordinal));
    }

    [Fact]
    public void Options_from_environment_name_the_missing_variable()
    {
        var env = new Dictionary<string, string>
        {
            ["LLM_BASE_URL"] = "https://llm.example/v1",
            ["LLM_API_KEY"] = apiKey,
            ["LLM_REASONING_MODEL"] = "m",
        };
        LlmOptions options = LlmOptions.FromEnvironment(env);
        options.ChatCompletionsUri.ShouldBe(new Uri("https://llm.example/v1/chat/completions"));
        options.ToString().ShouldNotContain(apiKey);

        foreach (string name in new[] { "LLM_BASE_URL", "LLM_API_KEY", "LLM_REASONING_MODEL" })
        {
            var missing = new Dictionary<string, string>(env);
            missing.Remove(name);
            Should.Throw<LlmConfigurationException>(() => LlmOptions.FromEnvironment(missing)).Message.ShouldStartWith(name + " is not set");
            missing[name] = "  ";
            Should.Throw<LlmConfigurationException>(() => LlmOptions.FromEnvironment(missing)).Message.ShouldStartWith(name + " is not set");
        }
        Should.Throw<LlmConfigurationException>(() => LlmOptions.FromEnvironment(new Dictionary<string, string>(env) { ["LLM_BASE_URL"] = "ftp://x" }))
            .Message.ShouldContain("LLM_BASE_URL");
        Should.Throw<LlmConfigurationException>(() => LlmOptions.FromEnvironment(new Dictionary<string, string>(env) { ["LLM_API_KEY"] = "sk a\nb" }))
            .Message.ShouldNotContain("sk a");
    }

    [Fact]
    public void Redaction_removes_the_key_and_any_bearer_credential()
    {
        string text = $"key={apiKey}; Authorization: Bearer other-token-123; again {apiKey}";

        string redacted = Redaction.Redact(text, apiKey);

        redacted.ShouldBe("key=[REDACTED]; Authorization: Bearer [REDACTED]; again [REDACTED]");
    }
}

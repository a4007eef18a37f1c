using System.Net;
using System.Security.Authentication;
using System.Text;
using System.Text.Json;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Bundle.Tests.Infrastructure;

/// <summary>The scripted OpenAI-compatible server, driven by a real HttpClient over loopback.</summary>
public sealed class OpenAiCompatibleServerTests : IAsyncLifetime
{
    private OpenAiCompatibleServer server = null!;
    private readonly HttpClient http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };

    public async Task InitializeAsync() => server = await OpenAiCompatibleServer.StartAsync();

    public async Task DisposeAsync()
    {
        http.Dispose();
        await server.DisposeAsync();
    }

    private static StringContent ChatBody(string model = "review-model", bool stream = false) => new(
        $$"""{"model":"{{model}}","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"system","content":"You review code."},{"role":"user","content":"Review this diff."}]}""",
        Encoding.UTF8,
        "application/json");

    private static HttpRequestMessage ChatRequest(Uri uri, HttpContent body, string? apiKey = "sk-test-123")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = body };
        if (apiKey is not null)
            request.Headers.Authorization = new("Bearer", apiKey);
        return request;
    }

    [Fact]
    public async Task ChatCompletion_IsRecorded_AndAnsweredWithTheScriptedContent()
    {
        server.Enqueue("LGTM, one nit.");

        using HttpResponseMessage response = await http.SendAsync(ChatRequest(server.ChatCompletionsUri, ChatBody()));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/json");
        using JsonDocument answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        JsonElement root = answer.RootElement;
        root.GetProperty("object").GetString().ShouldBe("chat.completion");
        root.GetProperty("id").GetString().ShouldStartWith("chatcmpl-");
        root.GetProperty("created").GetInt64().ShouldBeGreaterThan(0);
        root.GetProperty("model").GetString().ShouldBe("review-model");
        JsonElement choice = root.GetProperty("choices").EnumerateArray().Single();
        choice.GetProperty("index").GetInt32().ShouldBe(0);
        choice.GetProperty("finish_reason").GetString().ShouldBe("stop");
        choice.GetProperty("message").GetProperty("role").GetString().ShouldBe("assistant");
        choice.GetProperty("message").GetProperty("content").GetString().ShouldBe("LGTM, one nit.");
        JsonElement usage = root.GetProperty("usage");
        usage.GetProperty("total_tokens").GetInt32().ShouldBe(usage.GetProperty("prompt_tokens").GetInt32() + usage.GetProperty("completion_tokens").GetInt32());

        RecordedRequest recorded = server.Requests.ShouldHaveSingleItem();
        recorded.Method.ShouldBe("POST");
        recorded.Path.ShouldBe("/v1/chat/completions");
        recorded.Authorization.ShouldBe("Bearer sk-test-123");
        recorded.Headers["content-type"].ShouldStartWith("application/json");
        recorded.Json.GetProperty("messages")[1].GetProperty("content").GetString().ShouldBe("Review this diff.");
        recorded.StatusCode.ShouldBe(200);
        server.PendingResponses.ShouldBe(0);
    }

    [Fact]
    public async Task RawScriptedError_IsSentVerbatim_ThenAnEmptyQueueAnswers500()
    {
        const string rateLimited = """{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}""";
        server.EnqueueRaw(429, rateLimited);

        using HttpResponseMessage first = await http.SendAsync(ChatRequest(server.ChatCompletionsUri, ChatBody()));
        using HttpResponseMessage second = await http.SendAsync(ChatRequest(server.ChatCompletionsUri, ChatBody()));

        first.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        (await first.Content.ReadAsStringAsync()).ShouldBe(rateLimited);
        second.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        (await second.Content.ReadAsStringAsync()).ShouldContain("no scripted response left");
        server.Requests.Select(r => r.StatusCode).ShouldBe([429, 500]);
    }

    [Fact]
    public async Task ScriptedAnswers_AreConsumedInOrder()
    {
        server.Enqueue("first");
        server.Enqueue("second");

        string[] contents = new string[2];
        for (int i = 0; i < 2; i++)
        {
            using HttpResponseMessage response = await http.SendAsync(ChatRequest(server.ChatCompletionsUri, ChatBody()));
            using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            contents[i] = json.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        }

        contents.ShouldBe(["first", "second"]);
    }

    [Fact]
    public async Task StreamRequest_GetsServerSentChunks_EndingInDone()
    {
        server.Enqueue("streamed answer");

        using HttpResponseMessage response = await http.SendAsync(ChatRequest(server.ChatCompletionsUri, ChatBody(stream: true)));

        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/event-stream");
        string[] events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        events[^1].ShouldBe("data: [DONE]");
        string content = string.Concat(events[..^1].Select(e =>
        {
            using JsonDocument chunk = JsonDocument.Parse(e["data: ".Length..]);
            chunk.RootElement.GetProperty("object").GetString().ShouldBe("chat.completion.chunk");
            return chunk.RootElement.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out JsonElement c) ? c.GetString() : "";
        }));
        content.ShouldBe("streamed answer");
    }

    [Fact]
    public async Task BadRequests_GetErrorsWithoutConsumingTheScript()
    {
        server.Enqueue("kept for later");

        using HttpResponseMessage notJson = await http.SendAsync(ChatRequest(server.ChatCompletionsUri, new StringContent("not json", Encoding.UTF8, "application/json")));
        using HttpResponseMessage unknownPath = await http.SendAsync(ChatRequest(new Uri(server.BaseUri, "v1/embeddings"), ChatBody()));
        using HttpResponseMessage wrongMethod = await http.GetAsync(server.ChatCompletionsUri);

        notJson.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        unknownPath.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        wrongMethod.StatusCode.ShouldBe(HttpStatusCode.MethodNotAllowed);
        server.PendingResponses.ShouldBe(1);
        server.Requests.Select(r => r.Path).ShouldBe(["/v1/chat/completions", "/v1/embeddings", "/v1/chat/completions"]);
    }

    [Fact]
    public async Task OverTls_TrustedOnlyThroughTheTestCa()
    {
        using TestCertificateAuthority ca = TestCertificateAuthority.Create();
        await using OpenAiCompatibleServer tlsServer = await OpenAiCompatibleServer.StartAsync(ca);
        tlsServer.BaseUri.Scheme.ShouldBe("https");
        tlsServer.Enqueue("over tls");

        using var trusting = new HttpClient(ca.CreateTrustingHandler()) { Timeout = TimeSpan.FromSeconds(30) };
        using HttpResponseMessage ok = await trusting.SendAsync(ChatRequest(tlsServer.ChatCompletionsUri, ChatBody()));
        ok.StatusCode.ShouldBe(HttpStatusCode.OK);

        // The default handler trusts only the system roots, which do not include the throwaway CA.
        HttpRequestException refused = await Should.ThrowAsync<HttpRequestException>(() => http.SendAsync(ChatRequest(tlsServer.ChatCompletionsUri, ChatBody())));
        refused.InnerException.ShouldBeOfType<AuthenticationException>();
        tlsServer.Requests.Count.ShouldBe(1);
    }

    [Fact]
    public async Task DisposeAsync_StopsTheListener()
    {
        (await LoopbackProbe.IsAcceptingAsync(server.BaseUri)).ShouldBeTrue();

        await server.DisposeAsync();

        (await LoopbackProbe.IsAcceptingAsync(server.BaseUri)).ShouldBeFalse();
    }
}

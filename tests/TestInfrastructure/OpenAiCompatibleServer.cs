using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace AutoReview.TestInfrastructure;

/// <summary>One HTTP request the OpenAI-compatible server received, and the status it answered.</summary>
/// <param name="Headers">Every request header (case-insensitive names; repeated headers joined with ", "), Authorization included.</param>
/// <param name="Body">The request body as UTF-8 text.</param>
public sealed record RecordedRequest(
    DateTimeOffset Time,
    string Method,
    string Path,
    string QueryString,
    IReadOnlyDictionary<string, string> Headers,
    string Body,
    int StatusCode)
{
    /// <summary>The Authorization header (e.g. "Bearer sk-test"), or null.</summary>
    public string? Authorization => Headers.TryGetValue("Authorization", out string? value) ? value : null;

    /// <summary>The body parsed as JSON; throws <see cref="JsonException"/> if it is not JSON.</summary>
    public JsonElement Json
    {
        get
        {
            using var document = JsonDocument.Parse(Body);
            return document.RootElement.Clone();
        }
    }

    public override string ToString() => $"{Method} {Path}{QueryString} -> {StatusCode} ({Body.Length} chars)";
}

/// <summary>
/// An OpenAI-compatible chat-completions server on 127.0.0.1 (plain HTTP, or TLS with a <see cref="TestCertificateAuthority"/>).
/// <c>POST /v1/chat/completions</c> answers from a queue the test fills: <see cref="Enqueue"/> for a normal
/// <c>chat.completion</c> (or, when the request asks for <c>"stream": true</c>, the same answer as server-sent
/// <c>chat.completion.chunk</c> events ending in <c>[DONE]</c>), <see cref="EnqueueRaw"/> for any status and body.
/// An empty queue answers 500 with a body saying so; a body that is not a JSON object with a "messages" array
/// answers 400 without using the queue; other methods 405; other paths 404. Every request is recorded.
/// </summary>
public sealed class OpenAiCompatibleServer : IAsyncDisposable
{
    public const string ChatCompletionsPath = "/v1/chat/completions";
    public const string DefaultModel = "test-model";

    private const int MaxRecordedBodyBytes = 16 * 1024 * 1024;

    private readonly object gate = new();
    private readonly Queue<ScriptedResponse> script = new();
    private readonly List<RecordedRequest> requests = [];
    private WebApplication? app;
    private int completionCount;
    private int disposed;

    private OpenAiCompatibleServer()
    {
    }

    private abstract record ScriptedResponse;

    private sealed record Completion(string Content, string? Model, string FinishReason) : ScriptedResponse;

    private sealed record Raw(int StatusCode, string Body, string ContentType) : ScriptedResponse;

    /// <summary><c>http://127.0.0.1:PORT/</c> (or https).</summary>
    public Uri BaseUri { get; private set; } = null!;

    /// <summary>The API base an OpenAI client is configured with: <c>…/v1/</c>.</summary>
    public Uri ApiBaseUri => new(BaseUri, "v1/");

    /// <summary><c>…/v1/chat/completions</c>.</summary>
    public Uri ChatCompletionsUri => new(BaseUri, ChatCompletionsPath.TrimStart('/'));

    /// <summary>A snapshot of every request received, in the order they were answered.</summary>
    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (gate)
                return requests.ToArray();
        }
    }

    /// <summary>How many scripted responses are still queued.</summary>
    public int PendingResponses
    {
        get
        {
            lock (gate)
                return script.Count;
        }
    }

    /// <summary>Starts the server; with <paramref name="tls"/> it serves HTTPS with that CA's server certificate.</summary>
    public static async Task<OpenAiCompatibleServer> StartAsync(TestCertificateAuthority? tls = null)
    {
        var server = new OpenAiCompatibleServer();
        (server.app, server.BaseUri) = await LoopbackKestrel.StartAsync(server.HandleAsync, tls?.ServerCertificate, MaxRecordedBodyBytes).ConfigureAwait(false);
        return server;
    }

    /// <summary>Queues a successful completion whose assistant message is <paramref name="assistantContent"/>.</summary>
    /// <param name="model">The "model" to report; by default the one the request named, else <see cref="DefaultModel"/>.</param>
    public void Enqueue(string assistantContent, string? model = null, string finishReason = "stop")
    {
        ArgumentNullException.ThrowIfNull(assistantContent);
        lock (gate)
            script.Enqueue(new Completion(assistantContent, model, finishReason));
    }

    /// <summary>Queues an answer sent exactly as given (status, body, content type), e.g. a 429 or a malformed body.</summary>
    public void EnqueueRaw(int statusCode, string body, string contentType = "application/json")
    {
        if (statusCode is < 100 or > 599)
            throw new ArgumentOutOfRangeException(nameof(statusCode), statusCode, "not an HTTP status code");
        lock (gate)
            script.Enqueue(new Raw(statusCode, body, contentType));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0 || app is null)
            return;
        await LoopbackKestrel.StopAsync(app).ConfigureAwait(false);
    }

    private async Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        string body;
        using (var reader = new StreamReader(request.Body, new UTF8Encoding(false)))
            body = await reader.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);

        if (!string.Equals(request.Path.Value, ChatCompletionsPath, StringComparison.Ordinal))
        {
            await SendAsync(context, body, StatusCodes.Status404NotFound, "application/json",
                ErrorJson($"no route for {request.Method} {request.Path}; this test server serves only POST {ChatCompletionsPath}", "not_found")).ConfigureAwait(false);
            return;
        }
        if (!HttpMethods.IsPost(request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await SendAsync(context, body, StatusCodes.Status405MethodNotAllowed, "application/json",
                ErrorJson($"{request.Method} is not allowed on {ChatCompletionsPath}; use POST", "invalid_request_error")).ConfigureAwait(false);
            return;
        }

        JsonObject? json = ParseObject(body);
        if (json is null || json["messages"] is not JsonArray messages)
        {
            await SendAsync(context, body, StatusCodes.Status400BadRequest, "application/json",
                ErrorJson("the request body must be a JSON object with a \"messages\" array", "invalid_request_error")).ConfigureAwait(false);
            return;
        }

        ScriptedResponse? next;
        lock (gate)
            script.TryDequeue(out next);

        switch (next)
        {
            case null:
                await SendAsync(context, body, StatusCodes.Status500InternalServerError, "application/json",
                    ErrorJson("OpenAiCompatibleServer: no scripted response left: the test enqueued fewer answers than the code under test asked for", "test_script_exhausted")).ConfigureAwait(false);
                break;
            case Raw raw:
                await SendAsync(context, body, raw.StatusCode, raw.ContentType, raw.Body).ConfigureAwait(false);
                break;
            case Completion completion:
                string model = completion.Model ?? (json["model"] is JsonValue m && m.TryGetValue(out string? named) ? named : DefaultModel);
                string id = "chatcmpl-test-" + Interlocked.Increment(ref completionCount).ToString(CultureInfo.InvariantCulture);
                long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
                bool stream = json["stream"] is JsonValue s && s.TryGetValue(out bool wantsStream) && wantsStream;
                if (stream)
                    await SendStreamAsync(context, body, completion, id, created, model).ConfigureAwait(false);
                else
                    await SendAsync(context, body, StatusCodes.Status200OK, "application/json",
                        CompletionJson(completion, id, created, model, messages)).ConfigureAwait(false);
                break;
        }
    }

    private static JsonObject? ParseObject(string body)
    {
        try
        {
            return JsonNode.Parse(body) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string CompletionJson(Completion completion, string id, long created, string model, JsonArray messages)
    {
        int promptTokens = messages.Sum(message => RoughTokens(message?["content"] is JsonValue c && c.TryGetValue(out string? text) ? text : ""));
        int completionTokens = RoughTokens(completion.Content);
        var response = new JsonObject
        {
            ["id"] = id,
            ["object"] = "chat.completion",
            ["created"] = created,
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = completion.Content },
                ["finish_reason"] = completion.FinishReason,
            }),
            // Rough counts (characters / 4), not a tokenizer: enough for code that reads or sums usage.
            ["usage"] = new JsonObject
            {
                ["prompt_tokens"] = promptTokens,
                ["completion_tokens"] = completionTokens,
                ["total_tokens"] = promptTokens + completionTokens,
            },
        };
        return response.ToJsonString();
    }

    private async Task SendStreamAsync(HttpContext context, string requestBody, Completion completion, string id, long created, string model)
    {
        Record(context, requestBody, StatusCodes.Status200OK);
        HttpResponse response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        JsonObject Chunk(JsonObject delta, string? finishReason) => new()
        {
            ["id"] = id,
            ["object"] = "chat.completion.chunk",
            ["created"] = created,
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finishReason }),
        };
        JsonObject[] events =
        [
            Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null),
            Chunk(new JsonObject { ["content"] = completion.Content }, null),
            Chunk(new JsonObject(), completion.FinishReason),
        ];
        foreach (JsonObject e in events)
        {
            await response.WriteAsync("data: " + e.ToJsonString() + "\n\n", context.RequestAborted).ConfigureAwait(false);
            await response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        }
        await response.WriteAsync("data: [DONE]\n\n", context.RequestAborted).ConfigureAwait(false);
    }

    private async Task SendAsync(HttpContext context, string requestBody, int status, string contentType, string responseBody)
    {
        // Recorded before the response goes out, so a client that has its answer always finds its request here.
        Record(context, requestBody, status);
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        await context.Response.WriteAsync(responseBody, new UTF8Encoding(false), context.RequestAborted).ConfigureAwait(false);
    }

    private void Record(HttpContext context, string body, int status)
    {
        HttpRequest request = context.Request;
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach ((string name, Microsoft.Extensions.Primitives.StringValues values) in request.Headers)
            headers[name] = values.ToString();
        var entry = new RecordedRequest(DateTimeOffset.UtcNow, request.Method, request.Path.Value ?? "/", request.QueryString.Value ?? "", headers, body, status);
        lock (gate)
            requests.Add(entry);
    }

    private static string ErrorJson(string message, string type) =>
        new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["code"] = null } }.ToJsonString();

    private static int RoughTokens(string? text) => string.IsNullOrEmpty(text) ? 0 : (text.Length + 3) / 4;
}

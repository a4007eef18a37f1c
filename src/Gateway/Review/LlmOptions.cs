namespace AutoReview.Gateway.Review;

/// <summary>The LLM reviewer's configuration was missing or invalid; the message names the variable.</summary>
public sealed class LlmConfigurationException(string message) : Exception(message);

/// <summary>
/// How <see cref="LlmReviewer"/> reaches an OpenAI-compatible chat-completions endpoint.
/// <see cref="ToString"/> never prints <see cref="ApiKey"/>.
/// </summary>
/// <param name="BaseUrl">The API base, with or without a trailing <c>/v1</c>, e.g. <c>https://api.example.com</c>.</param>
/// <param name="ApiKey">Sent as <c>Authorization: Bearer …</c>; redacted from every log and error.</param>
/// <param name="Model">The "model" of each request.</param>
public sealed record LlmOptions(Uri BaseUrl, string ApiKey, string Model)
{
    public const string BaseUrlVariable = "LLM_BASE_URL";
    public const string ApiKeyVariable = "LLM_API_KEY";
    public const string ModelVariable = "LLM_REASONING_MODEL";

    /// <summary>Requests per review, retries included (malformed answers, HTTP 429 and 5xx, timeouts).</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Per request.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>The review context in the prompt is cut at this many characters, with a note saying so.</summary>
    public int MaxContextChars { get; init; } = 200_000;

    /// <summary>The pause before retrying after an HTTP error or a timeout (a Retry-After header wins, up to
    /// <see cref="MaxRetryDelay"/>). Malformed answers are retried at once.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary><c>{BaseUrl}/v1/chat/completions</c>, adding <c>/v1</c> only when the base does not end in it.</summary>
    public Uri ChatCompletionsUri
    {
        get
        {
            var builder = new UriBuilder(BaseUrl) { Query = "", Fragment = "" };
            string path = builder.Path.TrimEnd('/');
            builder.Path = (path.EndsWith("/v1", StringComparison.Ordinal) ? path : path + "/v1") + "/chat/completions";
            return builder.Uri;
        }
    }

    /// <summary>Reads <c>LLM_BASE_URL</c>, <c>LLM_API_KEY</c> and <c>LLM_REASONING_MODEL</c>.</summary>
    /// <exception cref="LlmConfigurationException">A variable is missing, empty or invalid; the message names it
    /// (and never echoes the key).</exception>
    public static LlmOptions FromEnvironment(IReadOnlyDictionary<string, string> env)
    {
        ArgumentNullException.ThrowIfNull(env);
        string baseUrl = Required(env, BaseUrlVariable);
        string apiKey = Required(env, ApiKeyVariable);
        string model = Required(env, ModelVariable);

        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            throw new LlmConfigurationException($"{BaseUrlVariable} must be an absolute http:// or https:// URL, not '{Printable.Escape(baseUrl)}'");
        if (!string.IsNullOrEmpty(uri.UserInfo))
            throw new LlmConfigurationException($"{BaseUrlVariable} must not carry credentials; put the key in {ApiKeyVariable}");
        // A header value cannot hold these; say so here rather than in an HttpClient error that might quote the value.
        if (apiKey.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
            throw new LlmConfigurationException($"{ApiKeyVariable} contains whitespace or control characters");
        if (model.Any(char.IsControl))
            throw new LlmConfigurationException($"{ModelVariable} contains control characters");
        return new LlmOptions(uri, apiKey, model);
    }

    private static string Required(IReadOnlyDictionary<string, string> env, string name) =>
        env.TryGetValue(name, out string? value) && !string.IsNullOrWhiteSpace(value)
            ? value.Trim()
            : throw new LlmConfigurationException($"{name} is not set; the llm reviewer needs {BaseUrlVariable}, {ApiKeyVariable} and {ModelVariable}");

    public override string ToString() =>
        $"LlmOptions {{ BaseUrl = {BaseUrl}, Model = {Model}, ApiKey = {Redaction.Placeholder}, MaxAttempts = {MaxAttempts}, Timeout = {Timeout}, MaxContextChars = {MaxContextChars} }}";
}
